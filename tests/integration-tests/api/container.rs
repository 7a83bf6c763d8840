//! The container runs every trigger: the consumer of the service queue (real
//! RabbitMQ), idempotent per event id, dead-lettering what it cannot process,
//! and the two timers.

use std::time::Duration;

use integration_tests::{
    SpawnOptions, TestApp,
    broker::envelope,
    broker::{next_on_queue, publish_raw},
    fakes::platform::FakePlatform,
    sandbox_integration, spawn_app,
};
use serde_json::{Value, json};
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(30);

async fn send(app: &TestApp, event: &Value) {
    let key = event["type"].as_str().unwrap();
    publish_raw(
        &app.settings.rabbitmq.exchange,
        key,
        event.to_string().as_bytes(),
    )
    .await;
}

#[tokio::test]
async fn a_scheduled_event_runs_one_sync_even_when_delivered_twice() {
    let fixture = sandbox_integration(&["contact", "account"], 20);
    let mut app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        container: true,
        ..Default::default()
    })
    .await;
    let event = envelope(
        "integration.sync.scheduled",
        fixture.tenant,
        json!({
            "integrationId": fixture.integration.id, "tenantId": fixture.tenant, "trigger": "cron", "scheduledAt": "2026-11-27T00:00:00Z"
        }),
    );

    send(&app, &event).await;
    let events = app
        .events
        .collect_until("integration.sync.completed", TIMEOUT)
        .await;
    send(&app, &event).await; // a redelivery: same event id

    let completed = &events.last().unwrap().1;
    assert_eq!(
        completed["data"]["recordsProcessed"], 40,
        "every enabled mapping synced"
    );
    assert!(
        completed["metadata"].get("userId").is_none(),
        "no user started it, and the platform's rule wants a uuid there"
    );
    let task_id = completed["data"]["taskId"].as_str().unwrap();
    let task = app.get_task(fixture.tenant, task_id).await;
    assert_eq!(task["triggeredBy"], "event:integration.sync.scheduled:cron");
    let later = app.events.drain_for(Duration::from_secs(2)).await;
    assert!(
        later.iter().all(|(k, _)| k != "integration.sync.started"),
        "the redelivery started nothing"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn malformed_and_unprocessable_messages_are_dead_lettered_with_the_reason() {
    let app = spawn_app(SpawnOptions {
        container: true,
        ..Default::default()
    })
    .await;
    let dlq = app.settings.rabbitmq.dead_letter_queue.clone();

    publish_raw(
        &app.settings.rabbitmq.exchange,
        "shard.updated",
        b"{not json",
    )
    .await;
    let (body, reason) = next_on_queue(&dlq, TIMEOUT).await;
    assert_eq!(body, b"{not json");
    assert!(reason.unwrap().contains("not an event envelope"));

    let unknown = envelope(
        "integration.webhook.received",
        Uuid::new_v4(),
        json!({"integrationId": "nobody-has-this"}),
    );
    send(&app, &unknown).await;
    let (_, reason) = next_on_queue(&dlq, TIMEOUT).await;
    assert!(
        reason.unwrap().contains("not found"),
        "a permanent refusal is set aside, not retried"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn mapping_results_count_on_their_task() {
    let fixture = sandbox_integration(&["contact"], 3);
    let app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        container: true,
        ..Default::default()
    })
    .await;
    let task_id = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    app.wait_for_task_end(fixture.tenant, &task_id, TIMEOUT)
        .await;

    let shard_id = "3f2d8c1a-5b6e-4f70-9a81-0c2d3e4f5a6b";
    for (kind, created) in [
        ("integration.data.mapped", true),
        ("integration.data.mapped", false),
        ("integration.data.mapping.failed", false),
        ("integration.data.mapping_failed", false),
    ] {
        // As CRMDataMappingConsumer.ts publishes them (no entity type).
        let data = if kind == "integration.data.mapped" {
            json!({
                "integrationId": fixture.integration.id, "tenantId": fixture.tenant, "shardId": shard_id,
                "externalId": "CON-000000001", "syncTaskId": task_id, "idempotencyKey": "k",
                "correlationId": Uuid::new_v4(), "success": true, "duration": 12, "created": created
            })
        } else {
            json!({
                "integrationId": fixture.integration.id, "tenantId": fixture.tenant,
                "externalId": "CON-000000002", "syncTaskId": task_id, "correlationId": Uuid::new_v4(),
                "error": "No entity mapping found", "retryAttempt": 0
            })
        };
        send(&app, &envelope(kind, fixture.tenant, data)).await;
    }

    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let task = app.get_task(fixture.tenant, &task_id).await;
        let counts = |keys: [&str; 3]| keys.map(|k| task[k].as_u64().unwrap());
        let run = counts(["recordsCreated", "recordsUpdated", "recordsFailed"]);
        let shards = counts(["shardsCreated", "shardsUpdated", "recordsFailed"]);
        if shards == [1, 1, 2] {
            assert_eq!(run, [3, 0, 2], "the run's own counts are left as they were");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "counts {task}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The mapped record is linked to its shard (for bidirectional sync).
    let state = app
        .repository()
        .await
        .get::<sync_core::domain::sync_state::RecordState>(
            fixture.tenant,
            &sync_core::domain::sync_state::RecordState::document_id(
                &fixture.integration.id,
                "contact",
                "CON-000000001",
            ),
        )
        .await
        .unwrap()
        .expect("the record's state")
        .doc;
    assert_eq!(state.shard_id.as_deref(), Some(shard_id));
    app.cleanup().await;
}

#[tokio::test]
async fn a_token_refresh_request_refreshes_through_integration_manager_and_says_so() {
    let tenant = Uuid::new_v4();
    let platform = FakePlatform::start(vec![]).await;
    let mut app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        container: true,
        ..Default::default()
    })
    .await;

    send(
        &app,
        &envelope(
            "integration.token.refresh-requested",
            tenant,
            json!({
                "connectionId": "conn-1", "integrationId": "int-1", "tenantId": tenant,
                "expiresAt": "2026-11-27T01:00:00Z", "requestedAt": "2026-11-27T00:00:00Z"
            }),
        ),
    )
    .await;

    let events = app
        .events
        .collect_until("integration.token.refreshed", TIMEOUT)
        .await;
    let refreshed = &events.last().unwrap().1;
    assert_eq!(refreshed["data"]["connectionId"], "conn-1");
    assert!(refreshed["data"]["refreshedAt"].is_string());
    assert_eq!(platform.refresh_calls(), 1);
    app.cleanup().await;
}

#[tokio::test]
async fn the_timers_ask_for_due_syncs_and_expiring_tokens() {
    let tweak: fn(&mut sync_core::config::Settings) = |s| {
        s.sync_scheduler.enabled = true;
        s.sync_scheduler.interval = std::time::Duration::from_millis(200);
        s.token_refresh.enabled = true;
        s.token_refresh.interval = std::time::Duration::from_millis(200);
        s.token_refresh.expiration_threshold = std::time::Duration::from_millis(3_600_000);
    };
    let mut app = spawn_app(SpawnOptions {
        container: true,
        tweak: Some(tweak),
        ..Default::default()
    })
    .await;
    let due = app
        .events
        .collect_until("integration.sync.check_due", TIMEOUT)
        .await;
    assert!(due.last().unwrap().1["data"]["timestamp"].is_string());
    let expiring = app
        .events
        .collect_until("integration.token.check_expiring", TIMEOUT)
        .await;
    let data = &expiring.last().unwrap().1["data"];
    let (now, threshold) = (
        data["timestamp"].as_str().unwrap(),
        data["thresholdTime"].as_str().unwrap(),
    );
    let gap = chrono::DateTime::parse_from_rfc3339(threshold).unwrap()
        - chrono::DateTime::parse_from_rfc3339(now).unwrap();
    assert_eq!(gap.num_seconds(), 3600);
    app.cleanup().await;
}
