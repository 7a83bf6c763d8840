//! Every function binary, run under an emulated Lambda Runtime API with
//! real-shaped events, against the real RabbitMQ and the store.

mod support;

use std::time::Duration;

use base64::Engine;
use integration_tests::{
    EventObserver, broker::envelope, broker::next_on_queue, fakes::platform::FakePlatform,
    sandbox_integration, spawn::test_settings,
};
use serde_json::{Value, json};
use support::{Outcome, RunningFunction, RuntimeApi};
use sync_core::domain::{Integration, field_mapping::FieldMapping};
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Names no other test uses, a data directory, and the environment a
/// deployment would give the function.
struct Deployment {
    env: Vec<(&'static str, String)>,
    exchange: String,
    queue: String,
    dead_letter_queue: String,
    data_dir: tempfile::TempDir,
    _files: tempfile::TempDir,
}

fn deployment(integrations: &[Integration], extra: &[(&'static str, String)]) -> Deployment {
    let settings = test_settings();
    let data_dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let integrations_file = files.path().join("integrations.yaml");
    std::fs::write(
        &integrations_file,
        json!({"integrations": integrations}).to_string(),
    )
    .unwrap();
    let r = &settings.rabbitmq;
    let mut env = vec![
        ("RABBITMQ_URL", integration_tests::rabbitmq_url()),
        ("RABBITMQ_EXCHANGE", r.exchange.clone()),
        ("RABBITMQ_QUEUE", r.queue.clone()),
        ("RABBITMQ_DLX", r.dead_letter_exchange.clone()),
        ("RABBITMQ_DLQ", r.dead_letter_queue.clone()),
        (
            "INTEGRATION_SYNC__RABBITMQ__QUEUE_EXPIRES_MS",
            "60000".into(),
        ),
        ("DATA_DIR", data_dir.path().display().to_string()),
        ("INTEGRATIONS_FILE", integrations_file.display().to_string()),
        ("SYNC_MIN_INTERVAL_MINUTES", "0".into()),
    ];
    env.extend(extra.iter().cloned());
    Deployment {
        env,
        exchange: r.exchange.clone(),
        queue: r.queue.clone(),
        dead_letter_queue: r.dead_letter_queue.clone(),
        data_dir,
        _files: files,
    }
}

/// One message as Amazon MQ delivers it: nulls included, body base64.
fn message(body: &[u8], event_type: &str, redelivered: bool) -> Value {
    json!({
        "basicProperties": {
            "contentType": "application/json", "contentEncoding": null, "headers": null, "deliveryMode": 2,
            "priority": null, "correlationId": null, "replyTo": null, "expiration": null, "messageId": null,
            "timestamp": null, "type": event_type, "userId": null, "appId": null, "clusterId": null, "bodySize": body.len()
        },
        "redelivered": redelivered,
        "data": base64::engine::general_purpose::STANDARD.encode(body)
    })
}

fn mq_batch(queues: Value) -> Value {
    json!({
        "eventSource": "aws:rmq",
        "eventSourceArn": "arn:aws:mq:eu-west-1:123456789012:broker:platform:b-1234",
        "rmqMessagesByQueue": queues
    })
}

fn schedule_event() -> Value {
    json!({
        "version": "0", "id": Uuid::new_v4(), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-27T00:00:00Z", "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/check-due"], "detail": {}
    })
}

fn response(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Response(body) => body,
        Outcome::Error(error) => panic!("the function failed: {error}"),
    }
}

#[tokio::test]
async fn on_shard_updated_pushes_once_sets_aside_garbage_and_refuses_a_wrong_source() {
    let mut fixture = sandbox_integration(&["opportunity"], 10);
    let config = &mut fixture.integration.sync_config;
    config.direction = Some(sync_core::domain::Direction::Bidirectional);
    config.entity_mappings[0].shard_type_id = Some("c_opportunity".into());
    config.entity_mappings[0].field_mappings = vec![FieldMapping {
        external_field: "StageName".into(),
        shard_field: "stage".into(),
        transform: None,
    }];
    // shard-manager serves the shard; the event carries only its id.
    let shard_manager = FakePlatform::start(vec![]).await;
    shard_manager.set_shard(
        "shard-1",
        json!({
            "id": "shard-1", "tenantId": fixture.tenant, "shardTypeId": "c_opportunity",
            "structuredData": {"stage": "Edited in the platform"},
            "metadata": {"integrationId": fixture.integration.id, "externalId": "OPP-000000001"}
        }),
    );
    let deployment = deployment(
        std::slice::from_ref(&fixture.integration),
        &[("SHARD_MANAGER_URL", shard_manager.url.clone())],
    );
    let mut observer = EventObserver::bind(&deployment.exchange).await;
    let api = RuntimeApi::start().await;
    let _function = RunningFunction::start(
        env!("CARGO_BIN_EXE_on-shard-updated"),
        &api,
        &deployment.env,
    );
    let event = envelope(
        "shard.updated",
        fixture.tenant,
        json!({"shardId": "shard-1", "shardTypeId": "c_opportunity"}),
    )
    .to_string();
    let batch = mq_batch(json!({
        "integration_sync_service::/": [message(event.as_bytes(), "shard.updated", false), message(b"not json at all", "shard.updated", false)],
        "integration_sync_service_retry::/": [message(event.as_bytes(), "shard.updated", true)],
    }));

    let report = response(api.invoke(batch).await);

    assert_eq!(
        report,
        json!({"handled": 1, "duplicates": 1, "rejected": 1, "redelivered": 1})
    );
    let events = observer
        .collect_until("integration.data.synced", TIMEOUT)
        .await;
    let synced = &events.last().unwrap().1["data"];
    assert_eq!(synced["externalId"], "OPP-000000001");
    assert_eq!(
        synced["changes"].as_array().unwrap().len(),
        1,
        "only the field the platform changed: {synced}"
    );
    assert_eq!(synced["changes"][0]["field"], "StageName");
    assert_eq!(synced["changes"][0]["new"], "Edited in the platform");
    let later = observer.drain_for(Duration::from_millis(500)).await;
    assert!(
        later.iter().all(|(k, _)| k != "integration.data.synced"),
        "pushed once"
    );
    let (body, reason) = next_on_queue(&deployment.dead_letter_queue, TIMEOUT).await;
    assert_eq!(body, b"not json at all");
    assert!(reason.unwrap().contains("not an event envelope"));

    let wrong = api
        .invoke(json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}))
        .await;
    let Outcome::Error(error) = wrong else {
        panic!("a wrongly wired trigger must fail")
    };
    assert_eq!(error["errorType"], "WrongEventSource");
}

#[tokio::test]
async fn on_schedule_runs_the_scheduled_sync_to_its_end_and_publishes_check_due_on_its_timer() {
    let fixture = sandbox_integration(&["account", "contact"], 30);
    let deployment = deployment(std::slice::from_ref(&fixture.integration), &[]);
    let mut observer = EventObserver::bind(&deployment.exchange).await;
    let api = RuntimeApi::start().await;
    let _function =
        RunningFunction::start(env!("CARGO_BIN_EXE_on-schedule"), &api, &deployment.env);
    let scheduled = envelope("integration.sync.scheduled", fixture.tenant, json!({
        "integrationId": fixture.integration.id, "tenantId": fixture.tenant, "trigger": "schedule", "scheduledAt": "2026-11-27T00:00:00Z"
    }))
    .to_string();

    let report = response(
        api.invoke(mq_batch(
            json!({"q::/": [message(scheduled.as_bytes(), "integration.sync.scheduled", false)]}),
        ))
        .await,
    );

    assert_eq!(report["handled"], 1);
    // The invocation answered only after the sync ended.
    let events = observer
        .collect_until("integration.sync.completed", Duration::from_secs(2))
        .await;
    assert_eq!(events.last().unwrap().1["data"]["recordsProcessed"], 60);

    let timer = response(api.invoke(schedule_event()).await);
    assert_eq!(timer["published"], "integration.sync.check_due");
    observer
        .collect_until("integration.sync.check_due", TIMEOUT)
        .await;
    assert!(
        !integration_tests::broker::queue_exists(&deployment.queue).await,
        "a function declares no service queue: nothing would read it"
    );
}

#[tokio::test]
async fn on_webhook_syncs_what_the_provider_said_changed() {
    let fixture = sandbox_integration(&["account", "contact"], 15);
    let deployment = deployment(std::slice::from_ref(&fixture.integration), &[]);
    let mut observer = EventObserver::bind(&deployment.exchange).await;
    let api = RuntimeApi::start().await;
    let _function = RunningFunction::start(env!("CARGO_BIN_EXE_on-webhook"), &api, &deployment.env);
    let received = envelope("integration.webhook.received", fixture.tenant, json!({
        "integrationId": fixture.integration.id, "tenantId": fixture.tenant, "entityType": "contact"
    }))
    .to_string();

    response(
        api.invoke(mq_batch(
            json!({"q::/": [message(received.as_bytes(), "integration.webhook.received", false)]}),
        ))
        .await,
    );

    let events = observer
        .collect_until("integration.sync.completed", TIMEOUT)
        .await;
    assert_eq!(
        events.last().unwrap().1["data"]["recordsProcessed"],
        15,
        "only the entity the webhook named"
    );
    assert_eq!(
        events.last().unwrap().1["data"]["entityTypes"],
        json!(["contact"])
    );
}

#[tokio::test]
async fn token_refresher_refreshes_on_request_and_asks_for_expiring_tokens_on_its_timer() {
    let platform = FakePlatform::start(vec![]).await;
    let deployment = deployment(&[], &[("INTEGRATION_MANAGER_URL", platform.url.clone())]);
    let mut observer = EventObserver::bind(&deployment.exchange).await;
    let api = RuntimeApi::start().await;
    let _function =
        RunningFunction::start(env!("CARGO_BIN_EXE_token-refresher"), &api, &deployment.env);
    let tenant = Uuid::new_v4();
    let request = envelope("integration.token.refresh-requested", tenant, json!({
        "connectionId": "conn-9", "integrationId": "int-9", "tenantId": tenant, "expiresAt": "2026-11-27T01:00:00Z", "requestedAt": "2026-11-27T00:00:00Z"
    }))
    .to_string();

    response(api.invoke(mq_batch(json!({"q::/": [message(request.as_bytes(), "integration.token.refresh-requested", false)]}))).await);
    let events = observer
        .collect_until("integration.token.refreshed", TIMEOUT)
        .await;
    assert_eq!(events.last().unwrap().1["data"]["connectionId"], "conn-9");
    assert_eq!(platform.refresh_calls(), 1);

    let timer = response(api.invoke(schedule_event()).await);
    assert_eq!(timer["published"], "integration.token.check_expiring");
    let events = observer
        .collect_until("integration.token.check_expiring", TIMEOUT)
        .await;
    assert!(events.last().unwrap().1["data"]["thresholdTime"].is_string());
}

#[tokio::test]
async fn on_mapping_result_counts_on_the_task() {
    let fixture = sandbox_integration(&["contact"], 1);
    let deployment = deployment(std::slice::from_ref(&fixture.integration), &[]);
    let repo = sync_core::repository::Repository::new(std::sync::Arc::new(
        sync_core::adapters::store::SqliteStore::open_in_dir(deployment.data_dir.path()).unwrap(),
    ));
    let task = sync_core::domain::SyncTask::new_pending(
        fixture.tenant,
        fixture.integration.id.clone(),
        sync_core::domain::Direction::Inbound,
        None,
        None,
        None,
    );
    repo.create(&task).await.unwrap();
    let api = RuntimeApi::start().await;
    let _function = RunningFunction::start(
        env!("CARGO_BIN_EXE_on-mapping-result"),
        &api,
        &deployment.env,
    );
    let mapped = envelope("integration.data.mapped", fixture.tenant, json!({"syncTaskId": task.task_id, "externalId": "CON-000000000", "shardId": "s-1", "created": true})).to_string();
    let failed = envelope(
        "integration.data.mapping.failed",
        fixture.tenant,
        json!({"syncTaskId": task.task_id, "externalId": "CON-000000001", "error": "no account"}),
    )
    .to_string();

    let report = response(
        api.invoke(mq_batch(json!({"q::/": [
            message(mapped.as_bytes(), "integration.data.mapped", false),
            message(failed.as_bytes(), "integration.data.mapping.failed", false)
        ]})))
        .await,
    );

    assert_eq!(report["handled"], 2);
    let stored = repo
        .get::<sync_core::domain::SyncTask>(fixture.tenant, &task.task_id.to_string())
        .await
        .unwrap()
        .unwrap()
        .doc;
    assert_eq!(
        (stored.shards_created, stored.counters.records_failed),
        (1, 1)
    );
}

#[tokio::test]
async fn http_api_answers_api_gateway_requests_with_the_same_router() {
    let deployment = deployment(&[], &[]);
    let api = RuntimeApi::start().await;
    let _function = RunningFunction::start(env!("CARGO_BIN_EXE_http-api"), &api, &deployment.env);
    let request = |path: &str| {
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": {"host": "api.example.com", "accept": "application/json"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
                "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "test"},
                "requestId": "r-1", "routeKey": "$default", "stage": "$default", "time": "27/Nov/2026:00:00:00 +0000", "timeEpoch": 1795737600000u64
            },
            "isBase64Encoded": false
        })
    };

    let health = response(api.invoke(request("/health")).await);
    assert_eq!(health["statusCode"], 200);
    assert!(health["body"].as_str().unwrap().contains("\"ok\""));
    let refused = response(api.invoke(request("/api/v1/sync/tasks")).await);
    assert_eq!(refused["statusCode"], 401);
    assert!(refused["body"].as_str().unwrap().contains("unauthorized"));
}
