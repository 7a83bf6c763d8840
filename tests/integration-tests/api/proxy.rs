//! Providers without a native adapter go through integration-manager's fetch.

use std::time::Duration;

use integration_tests::{SpawnOptions, fakes::platform::FakePlatform, spawn_app};
use serde_json::{Value, json};
use sync_core::domain::Integration;
use uuid::Uuid;

fn rows(n: usize, changed: Option<usize>) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let stage = if Some(i) == changed { "won" } else { "open" };
            json!({"id": format!("pd-{i}"), "title": format!("Deal {i}"), "stage": stage, "updatedAt": "2026-05-01T00:00:00Z"})
        })
        .collect()
}

/// An integration of a CRM this service has no adapter for.
fn pipedrive() -> Integration {
    serde_json::from_value(json!({
        "id": format!("pd-{}", Uuid::new_v4().simple()),
        "tenantId": Uuid::new_v4(),
        "provider": "pipedrive",
        "status": "active",
        "syncConfig": {"entityMappings": [{"externalEntity": "deals", "enabled": true}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_provider_without_an_adapter_syncs_through_integration_manager() {
    let integration = pipedrive();
    let platform = FakePlatform::start(vec![integration.clone()]).await;
    platform.set_fetchable(rows(130, None));
    let mut app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        page_size: Some(50),
        ..Default::default()
    })
    .await;
    run(&app, &integration, 130).await;
    run(&app, &integration, 0).await;
    platform.set_fetchable(rows(130, Some(77)));
    run(&app, &integration, 1).await;
    let events = app.events.drain_for(Duration::from_millis(500)).await;
    let updated: Vec<&Value> = events
        .iter()
        .filter(|(k, _)| k == "integration.data.raw")
        .map(|(_, e)| e)
        .collect();
    assert_eq!(updated.last().unwrap()["data"]["externalId"], "pd-77");
    app.cleanup().await;
}

/// The request budget is meant for a CRM's API limits: calls to the
/// platform's own integration-manager are not held to it. With one request a
/// second, the twelve pages below would take eleven seconds at least.
#[tokio::test]
async fn integration_manager_is_not_held_to_a_crm_request_budget() {
    let integration = pipedrive();
    let platform = FakePlatform::start(vec![integration.clone()]).await;
    platform.set_fetchable(rows(120, None));
    let app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        page_size: Some(10),
        tweak: Some(|s| {
            s.providers.requests_per_second = 1;
            s.providers.burst = 1;
        }),
        ..Default::default()
    })
    .await;
    let started = std::time::Instant::now();
    run(&app, &integration, 120).await;
    assert!(platform.fetch_calls() >= 12);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "integration-manager's pages were held to the CRM budget ({:?})",
        started.elapsed()
    );
    app.cleanup().await;
}

/// integration-manager's pages have a size of their own: the page size
/// meant for CRM APIs (`sync_limits.page_size`) does not make a sync through
/// it take more round trips.
#[tokio::test]
async fn integration_manager_is_asked_for_its_own_page_size() {
    let integration = pipedrive();
    let platform = FakePlatform::start(vec![integration.clone()]).await;
    platform.set_fetchable(rows(100, None));
    let app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        tweak: Some(|s| {
            s.sync_limits.page_size = 10;
            s.sync_limits.integration_manager_page_size = 40;
        }),
        ..Default::default()
    })
    .await;
    run(&app, &integration, 100).await;
    assert_eq!(
        platform.fetch_limits(),
        vec![Some(40); 3],
        "pages of 40, 40 and 20 (the last one short)"
    );
    app.cleanup().await;
}

/// One sync to its end; `changed` records were created or updated.
async fn run(app: &integration_tests::TestApp, integration: &Integration, changed: u64) {
    let task_id = app
        .trigger_inbound(integration.tenant_id, &integration.id)
        .await;
    let task = app
        .wait_for_task_end(integration.tenant_id, &task_id, Duration::from_secs(30))
        .await;
    assert_eq!(task["status"], "completed", "{task}");
    let created_or_updated =
        task["recordsCreated"].as_u64().unwrap() + task["recordsUpdated"].as_u64().unwrap();
    assert_eq!(created_or_updated, changed, "{task}");
}
