//! The functions under a Lambda-faithful harness
//! (`integration_tests::lambda::sandbox`): each sandbox is frozen the moment
//! it answers, killed at its deadline, several run at once, and each function
//! is fed from its queue as `infra/template.yaml` binds it. On the Cosmos DB
//! emulator and the real RabbitMQ, against a fake Salesforce.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use integration_tests::{
    EventObserver,
    broker::{envelope, of_type, publish_raw},
    lambda::{
        Deployment, EventSourceMapping, Invocation, LambdaFunction, Outcome, SalesforceSetup,
        deployment, function_binary, sandbox::is_frozen, schedule_event,
    },
    spawn::test_settings,
    tokens,
};
use serde_json::{Value, json};
use sync_core::{
    domain::{
        Integration, SyncTask, TaskStatus,
        events::{EventType, platform_rule},
    },
    inbound::consumes,
};
use uuid::Uuid;

const PAGE: usize = 100;

struct Stage {
    setup: SalesforceSetup,
    integrations: Vec<Integration>,
    deployment: Deployment,
    observer: EventObserver,
}

/// `count` Salesforce integrations of one tenant over the same fake org
/// (`rows` Accounts, pages of 100), deployed with `extra` settings.
async fn stage(count: usize, rows: usize, extra: &[(&'static str, String)]) -> Stage {
    let setup = SalesforceSetup::start(&["Account"], rows, "inbound").await;
    let integrations: Vec<Integration> = (0..count)
        .map(|n| {
            let mut integration = setup.integration.clone();
            if n > 0 {
                integration.id = Uuid::new_v4().to_string();
            }
            integration
        })
        .collect();
    let mut env = setup.neighbours();
    env.push(("INTEGRATION_SYNC__SYNC_LIMITS__LEASE_TTL_MS", "3000".into()));
    env.extend(extra.iter().cloned());
    let deployment = deployment(&integrations, &env).await;
    let observer = EventObserver::bind(&deployment.exchange).await;
    Stage {
        setup,
        integrations,
        deployment,
        observer,
    }
}

impl Stage {
    fn tenant(&self) -> Uuid {
        self.setup.integration.tenant_id
    }

    fn function(&self, name: &str, timeout: Duration, sandboxes: usize) -> Arc<LambdaFunction> {
        LambdaFunction::new(
            function_binary(name),
            &self.deployment.env,
            timeout,
            sandboxes,
        )
    }

    /// The function's queue, bound to what it consumes, feeding it.
    async fn feed(
        &self,
        function: &Arc<LambdaFunction>,
        consumed: &[EventType],
        batch_size: u16,
        pollers: usize,
    ) -> EventSourceMapping {
        let queue = format!("{}.{}", self.deployment.queue, Uuid::new_v4().simple());
        EventSourceMapping::start(
            function.clone(),
            &self.deployment.exchange,
            &queue,
            &EventType::bindings(consumed),
            batch_size,
            pollers,
        )
        .await
    }

    /// What integration-manager publishes when `integration` is due.
    async fn schedule(&self, integration: &Integration) {
        let tenant = self.tenant();
        let event = envelope(
            "integration.sync.scheduled",
            tenant,
            json!({
                "integrationId": integration.id, "tenantId": tenant, "trigger": "schedule", "scheduledAt": "2026-12-01T00:00:00Z"
            }),
        );
        publish_raw(
            &self.deployment.exchange,
            "integration.sync.scheduled",
            event.to_string().as_bytes(),
        )
        .await;
    }

    async fn webhook(&self, integration: &Integration) {
        let tenant = self.tenant();
        let event = envelope(
            "integration.webhook.received",
            tenant,
            json!({"integrationId": integration.id, "tenantId": tenant, "entityType": "Account"}),
        );
        publish_raw(
            &self.deployment.exchange,
            "integration.webhook.received",
            event.to_string().as_bytes(),
        )
        .await;
    }

    async fn task(&self, task_id: &str) -> SyncTask {
        self.deployment
            .repo
            .get::<SyncTask>(self.tenant(), task_id)
            .await
            .expect("the store answers")
            .expect("the task exists")
            .doc
    }
}

/// API Gateway's (HTTP API, payload 2.0) request for `POST path` with `body`.
fn api_request(path: &str, tenant: Uuid, body: &Value) -> Value {
    let token = tokens::platform_session(&test_settings().jwt, tenant);
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {
            "host": "api.example.com", "content-type": "application/json",
            "authorization": format!("Bearer {token}"), "x-tenant-id": tenant.to_string()
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "test"},
            "requestId": Uuid::new_v4(), "routeKey": "$default", "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000", "timeEpoch": 1796083200000u64
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
}

/// Whether `pid` is stopped within a moment (the kernel stops it
/// asynchronously after SIGSTOP).
async fn frozen_soon(pid: u32) -> bool {
    for _ in 0..50 {
        if is_frozen(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn answered(invocation: Invocation) -> Value {
    match invocation {
        Invocation::Answered(Outcome::Response(body)) => body,
        other => panic!("the function did not answer: {other:?}"),
    }
}

/// Publications of each record (`externalId` → idempotency keys, one per
/// `integration.data.raw`) of one task.
fn publications(events: &[(String, Value)], task_id: &str) -> HashMap<String, Vec<String>> {
    let mut by_record: HashMap<String, Vec<String>> = HashMap::new();
    for raw in of_type(events, "integration.data.raw") {
        if raw["data"]["syncTaskId"] != task_id {
            continue;
        }
        by_record
            .entry(raw["data"]["externalId"].as_str().unwrap().to_owned())
            .or_default()
            .push(raw["data"]["idempotencyKey"].as_str().unwrap().to_owned());
    }
    by_record
}

fn ends(events: &[(String, Value)]) -> Vec<&Value> {
    events
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "integration.sync.completed"
                    | "integration.sync.failed"
                    | "integration.sync.cancelled"
            )
        })
        .map(|(_, v)| v)
        .collect()
}

#[tokio::test]
async fn a_trigger_through_http_api_completes_though_its_sandbox_froze_right_after_the_202() {
    let mut stage = stage(1, 250, &[]).await;
    let api = stage.function("http-api", Duration::from_secs(30), 1);
    let runner = stage.function("on-schedule", Duration::from_secs(60), 1);
    let _feed = stage.feed(&runner, consumes::ON_SCHEDULE, 5, 1).await;
    let integration = stage.integrations[0].clone();

    let answer = answered(
        api.invoke(api_request(
            "/api/v1/sync/trigger",
            stage.tenant(),
            &json!({"integrationId": integration.id, "direction": "inbound"}),
        ))
        .await,
    );

    assert_eq!(answer["statusCode"], 202, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let task_id = body["taskId"].as_str().unwrap().to_owned();
    let api_sandbox = api.pids()[0];
    assert!(
        frozen_soon(api_sandbox).await,
        "Lambda froze the API's sandbox once it answered"
    );
    let events = stage
        .observer
        .collect_until("integration.sync.completed", Duration::from_secs(60))
        .await;
    assert!(
        is_frozen(api_sandbox),
        "the API's sandbox stayed frozen while the sync ran elsewhere"
    );
    let requested = of_type(&events, "integration.sync.run_requested");
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["data"]["taskId"], task_id.as_str());
    assert_eq!(
        platform_rule::violations(requested[0]),
        Vec::<String>::new(),
        "the platform's catch-all consumers read it too"
    );
    let completed = ends(&events)[0];
    assert_eq!(completed["data"]["taskId"], task_id.as_str());
    assert_eq!(completed["data"]["recordsProcessed"], 250);
    assert_eq!(publications(&events, &task_id).len(), 250);
    assert_eq!(stage.task(&task_id).await.status, TaskStatus::Completed);
    assert_eq!(runner.lifecycle.kills.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_sync_longer_than_its_invocation_completes_across_invocations_repeating_at_most_a_page() {
    let mut stage = stage(1, 1_000, &[("SYNC_DEADLINE_MARGIN_MS", "1000".into())]).await;
    stage
        .setup
        .salesforce
        .set_page_latency(Duration::from_millis(300));
    let runner = stage.function("on-schedule", Duration::from_secs(4), 2);
    let _feed = stage.feed(&runner, consumes::ON_SCHEDULE, 5, 2).await;

    stage.schedule(&stage.integrations[0]).await;

    let events = stage
        .observer
        .collect_until("integration.sync.completed", Duration::from_secs(120))
        .await;
    let started = of_type(&events, "integration.sync.started");
    assert_eq!(started.len(), 1, "one task, started once");
    let task_id = started[0]["data"]["taskId"].as_str().unwrap().to_owned();
    let handed_on = of_type(&events, "integration.sync.run_requested");
    assert!(
        !handed_on.is_empty(),
        "a 4 s invocation cannot read ten 300 ms pages and write them: the run was handed on"
    );
    assert!(runner.lifecycle.invocations.load(Ordering::SeqCst) > handed_on.len());
    assert_eq!(
        runner.lifecycle.kills.load(Ordering::SeqCst),
        0,
        "every run stopped before its deadline"
    );
    let published = publications(&events, &task_id);
    assert_eq!(published.len(), 1_000, "every record published");
    let repeats: usize = published.values().map(|keys| keys.len() - 1).sum();
    assert!(repeats <= PAGE, "{repeats} repeats: more than one page");
    for keys in published.values() {
        assert!(
            keys.iter().all(|k| k == &keys[0]),
            "a repeat carries the same idempotency key"
        );
    }
    let correlation = &started[0]["metadata"]["correlationId"];
    assert!(
        of_type(&events, "integration.data.raw")
            .iter()
            .all(|raw| &raw["metadata"]["correlationId"] == correlation),
        "one correlation id across invocations"
    );
    let completed = ends(&events)[0];
    assert_eq!(
        completed["data"]["executionId"],
        started[0]["data"]["executionId"]
    );
    assert_eq!(completed["data"]["recordsProcessed"], 1_000);
    let task = stage.task(&task_id).await;
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!(task.attempts as usize, handed_on.len() + 1);
}

#[tokio::test]
async fn two_sandboxes_of_each_function_never_exceed_the_tenant_limit_nor_run_a_task_twice() {
    let mut stage = stage(
        3,
        500,
        &[
            ("SYNC_MAX_CONCURRENT_PER_TENANT", "1".into()),
            ("SYNC_DEADLINE_MARGIN_MS", "1000".into()),
        ],
    )
    .await;
    stage
        .setup
        .salesforce
        .set_page_latency(Duration::from_millis(300));
    let timeout = Duration::from_secs(4);
    let api = stage.function("http-api", timeout, 2);
    let runner = stage.function("on-schedule", timeout, 2);
    let webhooks = stage.function("on-webhook", timeout, 2);
    let _runs = stage.feed(&runner, consumes::ON_SCHEDULE, 1, 2).await;
    let _hooks = stage.feed(&webhooks, consumes::ON_WEBHOOK, 1, 2).await;

    for integration in &stage.integrations {
        stage.schedule(integration).await;
        stage.webhook(integration).await;
    }
    let triggers = stage.integrations[..2].iter().map(|integration| {
        api.invoke(api_request(
            "/api/v1/sync/trigger",
            stage.tenant(),
            &json!({"integrationId": integration.id, "direction": "inbound"}),
        ))
    });
    for answer in futures::future::join_all(triggers).await {
        let status = answered(answer)["statusCode"].as_u64().unwrap();
        assert!(status == 202 || status == 429, "{status}");
    }

    // Until every task that started has ended and nothing moved for a while.
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let more = stage.observer.drain_for(Duration::from_secs(3)).await;
        let quiet = more.is_empty();
        events.extend(more);
        let started = of_type(&events, "integration.sync.started").len();
        if quiet && started > 0 && started == ends(&events).len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "syncs did not settle"
        );
    }

    let mut running = HashSet::new();
    let mut most = 0;
    for (kind, event) in &events {
        let task = event["data"]["taskId"].as_str().map(str::to_owned);
        match kind.as_str() {
            "integration.sync.started" => {
                assert!(running.insert(task.clone()), "{task:?} started twice");
                most = most.max(running.len());
            }
            "integration.sync.completed"
            | "integration.sync.failed"
            | "integration.sync.cancelled" => {
                assert!(running.remove(&task), "{task:?} ended without running");
            }
            _ => {}
        }
    }
    assert_eq!(most, 1, "the tenant's limit is one sync at a time");
    for end in ends(&events) {
        assert_eq!(end["type"], "integration.sync.completed", "{end}");
        let task_id = end["data"]["taskId"].as_str().unwrap();
        let published = publications(&events, task_id);
        assert_eq!(published.len(), 500, "every record of {task_id}");
        let repeats: usize = published.values().map(|keys| keys.len() - 1).sum();
        assert!(repeats <= PAGE, "{task_id} ran twice: {repeats} repeats");
    }
    assert_eq!(
        runner.lifecycle.most_busy.load(Ordering::SeqCst),
        2,
        "two sandboxes of on-schedule ran at once"
    );
    assert_eq!(webhooks.lifecycle.most_busy.load(Ordering::SeqCst), 2);
    assert_eq!(api.lifecycle.most_busy.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_sandbox_killed_at_its_deadline_mid_page_loses_nothing() {
    // A margin small enough that the run goes on to the second page ...
    let mut stage = stage(1, 300, &[("SYNC_DEADLINE_MARGIN_MS", "100".into())]).await;
    // ... which hangs past the invocation's 6 s deadline.
    stage
        .setup
        .salesforce
        .stall_page(1, Duration::from_secs(20));
    let runner = stage.function("on-schedule", Duration::from_secs(6), 1);
    let feed = stage.feed(&runner, consumes::ON_SCHEDULE, 5, 1).await;

    stage.schedule(&stage.integrations[0]).await;

    let batches = feed.batches_after(2, Duration::from_secs(30)).await;
    assert_eq!(
        runner.lifecycle.kills.load(Ordering::SeqCst),
        1,
        "{batches:?}"
    );
    assert!(
        !batches[0].answered,
        "the killed invocation's batch went back to the queue"
    );
    assert_eq!(
        (batches[1].redelivered, batches[1].answered),
        (1, true),
        "and came again, redelivered: a duplicate, since its sync had started"
    );

    // The killed run's slot lapses (3 s); the schedule's sweep resumes it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let sweep = answered(runner.invoke(schedule_event()).await);
    assert_eq!(sweep["resumed"], 1, "{sweep}");

    let events = stage
        .observer
        .collect_until("integration.sync.completed", Duration::from_secs(30))
        .await;
    let started = of_type(&events, "integration.sync.started");
    assert_eq!(
        started.len(),
        1,
        "one task, resumed rather than started again"
    );
    let task_id = started[0]["data"]["taskId"].as_str().unwrap().to_owned();
    let task = stage.task(&task_id).await;
    assert_eq!(task.status, TaskStatus::Completed, "{:?}", task.error);
    assert_eq!(task.attempts, 2);
    let published = publications(&events, &task_id);
    assert_eq!(published.len(), 300, "every record published");
    let repeats: usize = published.values().map(|keys| keys.len() - 1).sum();
    assert!(
        repeats <= PAGE,
        "{repeats} repeats: more than the page in flight"
    );
    for keys in published.values() {
        assert!(keys.iter().all(|k| k == &keys[0]), "same idempotency key");
    }
    assert_eq!(ends(&events)[0]["data"]["recordsProcessed"], 300);
}
