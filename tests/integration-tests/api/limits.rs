//! Limits hold across instances: two app instances share one Cosmos DB
//! database and one broker, and triggers arrive at both at once.

use std::{collections::HashMap, time::Duration};

use futures::future::join_all;
use integration_tests::{SpawnOptions, TestApp, sandbox_integration, spawn_app};
use serde_json::{Value, json};
use sync_core::domain::Integration;
use uuid::Uuid;

const LIMIT: u32 = 3;
/// Records per integration: with pages of 50, enough pages that syncs overlap.
const RECORDS: u64 = 600;

/// Fires one trigger per integration, alternating instances, all at once.
/// Returns (integration id, status, body) per trigger.
async fn trigger_all(
    apps: &[&TestApp],
    tenant: Uuid,
    integrations: &[&Integration],
) -> Vec<(String, u16, Value)> {
    let requests = integrations.iter().enumerate().map(|(i, integration)| {
        let app = apps[i % apps.len()];
        async move {
            let response = app
                .trigger(
                    tenant,
                    json!({"integrationId": integration.id, "direction": "inbound"}),
                )
                .await;
            let status = response.status().as_u16();
            (
                integration.id.clone(),
                status,
                response.json::<Value>().await.unwrap(),
            )
        }
    });
    join_all(requests).await
}

#[tokio::test]
async fn two_instances_never_exceed_the_tenant_limit_and_never_run_a_task_twice() {
    let tenant = Uuid::new_v4();
    let integrations: Vec<Integration> = (0..10)
        .map(|_| {
            let mut integration = sandbox_integration(&["contact"], RECORDS).integration;
            integration.tenant_id = tenant;
            integration
        })
        .collect();
    let tweak: fn(&mut sync_core::config::Settings) = |s| {
        s.sync_limits.max_concurrent_syncs_per_tenant = LIMIT;
        s.sync_limits.min_interval = std::time::Duration::ZERO;
    };
    let mut a = spawn_app(SpawnOptions {
        integrations: integrations.clone(),
        cosmos: true,
        page_size: Some(50),
        tweak: Some(tweak),
        ..Default::default()
    })
    .await;
    let b = spawn_app(SpawnOptions {
        integrations: integrations.clone(),
        like: Some(a.settings.clone()),
        ..Default::default()
    })
    .await;

    // Rounds of simultaneous triggers until every integration has run once.
    let mut accepted: HashMap<String, String> = HashMap::new();
    let mut refusals = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while tokio::time::Instant::now() < deadline {
        let pending: Vec<&Integration> = integrations
            .iter()
            .filter(|i| !accepted.contains_key(&i.id))
            .collect();
        if pending.is_empty() {
            break;
        }
        for (integration_id, status, body) in trigger_all(&[&a, &b], tenant, &pending).await {
            match status {
                202 => {
                    accepted.insert(integration_id, body["taskId"].as_str().unwrap().to_owned());
                }
                429 => {
                    assert_eq!(body["error"]["code"], "concurrency_limit", "{body}");
                    assert!(
                        body["error"]["message"]
                            .as_str()
                            .unwrap()
                            .contains("3 syncs"),
                        "{body}"
                    );
                    refusals += 1;
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(accepted.len(), 10, "every integration eventually ran");
    assert!(
        refusals > 0,
        "ten simultaneous triggers against a limit of three must refuse some"
    );

    // Every accepted task ran exactly once, and never more than LIMIT at a time.
    let mut running: i64 = 0;
    let mut peak = 0;
    let mut started: HashMap<String, usize> = HashMap::new();
    let mut ended = 0;
    while ended < accepted.len() {
        let events = a
            .events
            .collect_until("integration.sync.completed", Duration::from_secs(60))
            .await;
        for (event_type, event) in events {
            let task_id = event["data"]["taskId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match event_type.as_str() {
                "integration.sync.started" => {
                    *started.entry(task_id).or_default() += 1;
                    running += 1;
                    peak = peak.max(running);
                }
                "integration.sync.completed" | "integration.sync.failed" => {
                    assert_eq!(event_type, "integration.sync.completed", "{event}");
                    running -= 1;
                    ended += 1;
                }
                _ => {}
            }
        }
    }
    assert!(peak <= i64::from(LIMIT), "{peak} syncs ran at once");
    assert_eq!(started.len(), accepted.len());
    assert!(
        started.values().all(|n| *n == 1),
        "a task started twice: {started:?}"
    );
    for task_id in accepted.values() {
        let task = a.get_task(tenant, task_id).await;
        assert_eq!(task["status"], "completed");
        assert_eq!(task["recordsProcessed"], RECORDS);
    }
    drop(b);
    a.shutdown().await;
    a.cleanup().await;
}

#[tokio::test]
async fn a_second_sync_of_an_integration_within_the_interval_is_refused_on_any_instance() {
    let fixture = sandbox_integration(&["contact"], 10);
    let tweak: fn(&mut sync_core::config::Settings) =
        |s| s.sync_limits.min_interval = std::time::Duration::from_secs(5 * 60);
    let a = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        cosmos: true,
        tweak: Some(tweak),
        ..Default::default()
    })
    .await;
    let b = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        like: Some(a.settings.clone()),
        ..Default::default()
    })
    .await;
    a.trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;

    let response = b
        .trigger(
            fixture.tenant,
            json!({"integrationId": fixture.integration.id, "direction": "inbound"}),
        )
        .await;

    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (290..=300).contains(&retry_after),
        "retry-after {retry_after}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "sync_interval");
    drop(b);
    a.cleanup().await;
}
