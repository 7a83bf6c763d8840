//! The HubSpot adapter against a fake HubSpot, end to end.

use std::time::Duration;

use integration_tests::{
    SpawnOptions, TestApp,
    broker::published_ids,
    fakes::{hubspot::FakeHubSpot, platform::FakePlatform},
    spawn_app,
};
use serde_json::{Value, json};
use sync_core::domain::Integration;
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(60);
/// The fake's search cap, small so that one sync needs several windows.
const CAP: usize = 30;

async fn setup(objects: usize, per_stamp: usize) -> (TestApp, FakeHubSpot, Integration) {
    let hubspot = FakeHubSpot::start(CAP, "hs-token").await;
    hubspot.add_objects("deals", objects, per_stamp);
    let integration: Integration = serde_json::from_value(json!({
        "id": format!("hs-{}", Uuid::new_v4().simple()),
        "tenantId": Uuid::new_v4(),
        "provider": "hubspot",
        "status": "active",
        "credentialSecretName": "hs-credentials",
        "syncConfig": {"entityMappings": [{"externalEntity": "deals", "enabled": true}]},
        "settings": {"hubspot": {"baseUrl": hubspot.url}}
    }))
    .unwrap();
    let platform = FakePlatform::start(vec![integration.clone()]).await;
    platform.set_secret("hs-credentials", json!({"accessToken": "hs-token"}));
    let tweak: fn(&mut sync_core::config::Settings) =
        |s| s.providers.hubspot.search_result_cap = CAP as u64;
    let app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        secret_management_url: Some(platform.url.clone()),
        page_size: Some(10),
        tweak: Some(tweak),
        ..Default::default()
    })
    .await;
    (app, hubspot, integration)
}

async fn sync(app: &mut TestApp, integration: &Integration) -> (Value, Vec<(String, Value)>) {
    let task_id = app
        .trigger_inbound(integration.tenant_id, &integration.id)
        .await;
    let events = app
        .events
        .collect_until_any(
            &["integration.sync.completed", "integration.sync.failed"],
            TIMEOUT,
        )
        .await;
    (
        app.wait_for_task_end(integration.tenant_id, &task_id, TIMEOUT)
            .await,
        events,
    )
}

#[tokio::test]
async fn deals_past_the_search_cap_sync_completely_by_moving_the_window() {
    // 100 deals, four per timestamp, searches capped at 30 results, pages of 10.
    let (mut app, hubspot, integration) = setup(100, 4).await;

    let (task, events) = sync(&mut app, &integration).await;

    assert_eq!(task["status"], "completed", "{task}");
    let ids = published_ids(&events);
    assert_eq!(ids.len(), 100, "no deal missed across windows");
    assert!(ids.values().all(|n| *n == 1), "no deal published twice");
    assert!(hubspot.searches() > 10, "several windows were searched");
    assert_eq!(task["recordsCreated"], 100);
    app.cleanup().await;
}

#[tokio::test]
async fn edits_and_archived_deals_publish_exactly_the_change_and_the_deletion() {
    let (mut app, hubspot, integration) = setup(40, 2).await;
    sync(&mut app, &integration).await;

    let (quiet, events) = sync(&mut app, &integration).await;
    assert!(published_ids(&events).is_empty(), "{quiet}");

    hubspot.edit("deals", "1005", "amount", "99999");
    hubspot.archive("deals", "1010");
    let (task, events) = sync(&mut app, &integration).await;

    assert_eq!(
        published_ids(&events).keys().collect::<Vec<_>>(),
        vec!["1005"]
    );
    let deletions: Vec<&Value> = events
        .iter()
        .filter(|(k, _)| k == "integration.data.deleted")
        .map(|(_, e)| e)
        .collect();
    assert_eq!(deletions.len(), 1);
    assert_eq!(deletions[0]["data"]["externalId"], "1010");
    assert_eq!(task["recordsUpdated"], 1);
    assert_eq!(task["recordsDeleted"], 1);
    app.cleanup().await;
}
