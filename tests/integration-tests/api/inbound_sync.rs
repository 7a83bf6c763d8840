//! An inbound sync from the HTTP trigger to the events on RabbitMQ.

use std::{collections::HashSet, time::Duration};

use integration_tests::{SpawnOptions, broker::of_type, sandbox_integration, spawn_app};
use serde_json::Value;

const EVENTS_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_sync_at_the_threshold_publishes_one_raw_event_per_record() {
    let fixture = sandbox_integration(&["opportunity"], 100);
    let mut app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        page_size: Some(30),
        ..Default::default()
    })
    .await;
    let task_id = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;

    let events = app
        .events
        .collect_until("integration.sync.completed", EVENTS_TIMEOUT)
        .await;

    assert_eq!(
        events.first().map(|(k, _)| k.as_str()),
        Some("integration.sync.started")
    );
    let raw = of_type(&events, "integration.data.raw");
    assert_eq!(raw.len(), 100);
    assert_eq!(
        events.len(),
        102,
        "started, one event per record, completed: nothing else (integration-processors \
         announces opportunities itself, with their shard ids)"
    );
    let completed = of_type(&events, "integration.sync.completed")[0];
    let execution_id = completed["data"]["executionId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(completed["data"]["taskId"], task_id.as_str());
    assert_eq!(completed["data"]["recordsProcessed"], 100);
    assert_eq!(completed["data"]["recordsFailed"], 0);

    // Envelope fields on every event; one correlation id for the whole execution.
    let correlation = completed["metadata"]["correlationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ids = HashSet::new();
    for (key, event) in &events {
        assert_eq!(event["type"], key.as_str());
        assert_eq!(event["version"], "1.0");
        assert_eq!(event["tenantId"], fixture.tenant.to_string());
        assert_eq!(event["source"]["service"], "integration-sync");
        assert!(
            event["source"]["instance"]
                .as_str()
                .is_some_and(|i| !i.is_empty())
        );
        assert!(chrono::DateTime::parse_from_rfc3339(event["timestamp"].as_str().unwrap()).is_ok());
        assert_eq!(event["metadata"]["correlationId"], correlation.as_str());
        assert_eq!(
            event["metadata"]["userId"],
            integration_tests::spawn::TEST_USER
        );
        assert!(
            ids.insert(event["id"].as_str().unwrap().to_owned()),
            "event ids are unique"
        );
    }
    let first = &raw[0]["data"];
    assert_eq!(first["integrationId"], fixture.integration.id.as_str());
    assert_eq!(first["tenantId"], fixture.tenant.to_string());
    assert_eq!(first["entityType"], "opportunity");
    assert_eq!(first["syncTaskId"], task_id.as_str());
    assert_eq!(first["correlationId"], correlation.as_str());
    assert_eq!(first["metadata"]["executionId"], execution_id.as_str());
    let external_id = first["externalId"].as_str().unwrap();
    assert_eq!(first["rawData"]["Id"], external_id);
    assert_eq!(
        first["idempotencyKey"],
        format!("{}-{external_id}-{task_id}", fixture.integration.id)
    );

    let task = app
        .wait_for_task_end(fixture.tenant, &task_id, EVENTS_TIMEOUT)
        .await;
    assert_eq!(task["status"], "completed");
    assert_eq!(task["recordsProcessed"], 100);
    assert_eq!(task["executionId"], execution_id.as_str());
    assert!(task["startedAt"].is_string() && task["completedAt"].is_string());
    assert!(
        app.events
            .drain_for(Duration::from_millis(300))
            .await
            .is_empty(),
        "nothing after completion"
    );
    app.shutdown().await;
    app.cleanup().await;
}

#[tokio::test]
async fn with_batch_events_a_sync_over_the_threshold_publishes_batches_of_the_configured_size() {
    let fixture = sandbox_integration(&["opportunity", "account", "contact"], 120);
    let mut app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        page_size: Some(45),
        tweak: Some(|s| s.mapping.batch_events = true),
        ..Default::default()
    })
    .await;
    let task_id = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;

    let events = app
        .events
        .collect_until("integration.sync.completed", EVENTS_TIMEOUT)
        .await;

    assert!(of_type(&events, "integration.data.raw").is_empty());
    let batches = of_type(&events, "integration.data.raw_batch");
    let shape: Vec<(String, u64)> = batches
        .iter()
        .map(|b| {
            (
                b["data"]["entityType"].as_str().unwrap().to_owned(),
                b["data"]["batchSize"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = ["opportunity", "account", "contact"]
        .iter()
        .flat_map(|e| [50, 50, 20].map(|n| (e.to_string(), n)))
        .collect();
    assert_eq!(shape, expected);

    let mut seen = HashSet::new();
    for batch in &batches {
        let data = &batch["data"];
        assert_eq!(data["syncTaskId"], task_id.as_str());
        assert_eq!(data["integrationId"], fixture.integration.id.as_str());
        let records = data["records"].as_array().unwrap();
        assert_eq!(records.len() as u64, data["batchSize"].as_u64().unwrap());
        for record in records {
            let external_id = record["externalId"].as_str().unwrap();
            assert_eq!(record["rawData"]["Id"], external_id);
            assert_eq!(
                record["idempotencyKey"],
                format!("{}-{external_id}-{task_id}", fixture.integration.id)
            );
            assert!(
                seen.insert(external_id.to_owned()),
                "{external_id} published twice"
            );
        }
    }
    assert_eq!(seen.len(), 360, "every record exactly once");
    assert_eq!(batches.len() + 2, events.len(), "nothing but batches");

    let completed = of_type(&events, "integration.sync.completed")[0];
    assert_eq!(completed["data"]["recordsProcessed"], 360);
    let task = app
        .wait_for_task_end(fixture.tenant, &task_id, EVENTS_TIMEOUT)
        .await;
    assert_eq!(task["status"], "completed");
    assert_eq!(task["recordsProcessed"], 360);
    assert_eq!(task["recordsFailed"], 0);
    app.cleanup().await;
}

#[tokio::test]
async fn a_provider_failure_ends_the_task_failed_with_the_reason() {
    // An enabled mapping the sandbox does not have: the run fails at its first page.
    let fixture = sandbox_integration(&["invoice"], 10);
    let mut app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        ..Default::default()
    })
    .await;
    let task_id = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;

    let events = app
        .events
        .collect_until("integration.sync.failed", EVENTS_TIMEOUT)
        .await;

    let failed = of_type(&events, "integration.sync.failed")[0];
    assert_eq!(failed["data"]["taskId"], task_id.as_str());
    assert!(
        failed["data"]["error"]
            .as_str()
            .unwrap()
            .contains("invoice"),
        "{failed}"
    );
    let task = app
        .wait_for_task_end(fixture.tenant, &task_id, EVENTS_TIMEOUT)
        .await;
    assert_eq!(task["status"], "failed");
    assert!(task["error"].as_str().unwrap().contains("invoice"));
    app.cleanup().await;
}

#[tokio::test]
async fn requests_that_cannot_run_are_refused_before_a_task_exists() {
    let fixture = sandbox_integration(&["opportunity"], 10);
    let mut inactive = sandbox_integration(&["opportunity"], 10).integration;
    inactive.tenant_id = fixture.tenant;
    inactive.status = "disabled".into();
    let mut app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone(), inactive.clone()],
        ..Default::default()
    })
    .await;
    let id = fixture.integration.id.as_str();
    let cases = [
        (
            serde_json::json!({"integrationId": "no-such-integration", "direction": "inbound"}),
            404,
            "not_found",
        ),
        (
            serde_json::json!({"integrationId": id, "direction": "outbound"}),
            422,
            "unsupported_direction",
        ),
        (
            serde_json::json!({"integrationId": id, "direction": "inbound", "entityType": "invoice"}),
            422,
            "entity_not_mapped",
        ),
        (
            serde_json::json!({"integrationId": inactive.id, "direction": "inbound"}),
            422,
            "integration_inactive",
        ),
    ];
    for (body, status, code) in cases {
        let response = app.trigger(fixture.tenant, body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{body}");
    }
    assert!(
        app.events
            .drain_for(Duration::from_millis(300))
            .await
            .is_empty(),
        "no task ran"
    );
    app.cleanup().await;
}
