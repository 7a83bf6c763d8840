//! The Salesforce adapter against a fake Salesforce, end to end.

use std::time::Duration;

use integration_tests::{
    SpawnOptions, TestApp,
    broker::published_ids,
    fakes::{
        platform::FakePlatform,
        salesforce::{FakeSalesforce, Fault},
    },
    spawn_app,
};
use serde_json::{Value, json};
use sync_core::domain::Integration;
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(60);

struct Setup {
    app: TestApp,
    salesforce: FakeSalesforce,
    platform: FakePlatform,
    integration: Integration,
}

async fn setup(
    rows: usize,
    per_stamp: usize,
    page_size: usize,
    token_in_secret: &str,
    tweak: Option<fn(&mut sync_core::config::Settings)>,
) -> Setup {
    let salesforce = FakeSalesforce::start(page_size, "valid-session").await;
    salesforce.add_rows("Opportunity", rows, per_stamp);
    let integration: Integration = serde_json::from_value(json!({
        "id": format!("sf-{}", Uuid::new_v4().simple()),
        "tenantId": Uuid::new_v4(),
        "provider": "salesforce",
        "status": "active",
        "credentialSecretName": "sf-credentials",
        "syncConfig": {"entityMappings": [{"externalEntity": "Opportunity", "enabled": true}]}
    }))
    .unwrap();
    let platform = FakePlatform::start(vec![integration.clone()]).await;
    platform.set_secret(
        "sf-credentials",
        json!({"accessToken": token_in_secret, "instanceUrl": salesforce.url}),
    );
    let app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        secret_management_url: Some(platform.url.clone()),
        tweak,
        ..Default::default()
    })
    .await;
    Setup {
        app,
        salesforce,
        platform,
        integration,
    }
}

async fn sync(setup: &mut Setup) -> (Value, Vec<(String, Value)>) {
    let tenant = setup.integration.tenant_id;
    let task_id = setup
        .app
        .trigger_inbound(tenant, &setup.integration.id)
        .await;
    let events = setup
        .app
        .events
        .collect_until_any(
            &["integration.sync.completed", "integration.sync.failed"],
            TIMEOUT,
        )
        .await;
    let task = setup.app.wait_for_task_end(tenant, &task_id, TIMEOUT).await;
    (task, events)
}

#[tokio::test]
async fn opportunities_sync_without_missing_shared_timestamps_then_only_changes_and_deletions() {
    // Three rows per SystemModstamp and pages of 40: groups straddle page boundaries.
    let mut s = setup(250, 3, 40, "valid-session", None).await;

    let (first, events) = sync(&mut s).await;
    assert_eq!(first["status"], "completed", "{first}");
    let ids = published_ids(&events);
    assert_eq!(
        ids.len(),
        250,
        "every row, none missed at shared timestamps"
    );
    assert!(ids.values().all(|n| *n == 1));
    assert_eq!(first["recordsCreated"], 250);
    let raw = events
        .iter()
        .find(|(k, _)| k == "integration.data.raw")
        .unwrap();
    assert!(raw.1["data"]["rawData"]["StageName"].is_string());

    let (second, events) = sync(&mut s).await;
    assert!(
        published_ids(&events).is_empty(),
        "nothing changed, nothing published"
    );
    assert_eq!(second["recordsUpdated"], 0);

    let edited = "006000000000000042";
    s.salesforce
        .edit("Opportunity", edited, "StageName", json!("Closed Won"));
    let (third, events) = sync(&mut s).await;
    assert_eq!(
        published_ids(&events).keys().collect::<Vec<_>>(),
        vec![edited]
    );
    assert_eq!(third["recordsUpdated"], 1);

    let gone = "006000000000000007";
    s.salesforce.delete("Opportunity", gone);
    let (fourth, events) = sync(&mut s).await;
    let deletions: Vec<&Value> = events
        .iter()
        .filter(|(k, _)| k == "integration.data.deleted")
        .map(|(_, e)| e)
        .collect();
    assert_eq!(deletions.len(), 1);
    assert_eq!(deletions[0]["data"]["externalId"], gone);
    assert_eq!(fourth["recordsDeleted"], 1);
    s.app.cleanup().await;
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_waited_out_and_the_sync_completes() {
    let mut s = setup(60, 2, 25, "valid-session", None).await;
    s.salesforce.inject(vec![
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        Fault::ServerError,
        Fault::ServerError,
    ]);

    let (task, events) = sync(&mut s).await;

    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(published_ids(&events).len(), 60);
    let requests = s.salesforce.requests();
    let queries: Vec<_> = requests.iter().filter(|(_, p)| p == "queryAll").collect();
    assert!(
        queries.len() >= 4,
        "the 429 and both 503s were retried: {requests:?}"
    );
    let waited = queries[1].0 - queries[0].0;
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 was honoured (waited {waited:?})"
    );
    s.app.cleanup().await;
}

#[tokio::test]
async fn an_expired_session_is_refreshed_once_and_the_sync_goes_on() {
    let mut s = setup(30, 1, 50, "expired-session", None).await;
    s.platform
        .rotate_on_refresh("sf-credentials", "valid-session");

    let (task, events) = sync(&mut s).await;

    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(published_ids(&events).len(), 30);
    assert_eq!(s.platform.refresh_calls(), 1);
    s.app.cleanup().await;
}

#[tokio::test]
async fn credentials_that_stay_refused_fail_the_sync_with_the_reason() {
    let mut s = setup(5, 1, 50, "revoked-session", None).await;

    let (task, _) = sync(&mut s).await;

    assert_eq!(task["status"], "failed");
    assert!(
        task["error"].as_str().unwrap().contains("credentials"),
        "{task}"
    );
    assert_eq!(
        s.platform.refresh_calls(),
        1,
        "refreshed once, not in a loop"
    );
    s.app.cleanup().await;
}

#[tokio::test]
async fn the_request_budget_per_tenant_and_provider_is_respected() {
    let tweak: fn(&mut sync_core::config::Settings) = |s| {
        s.providers.requests_per_second = 4;
        s.providers.burst = 1;
    };
    let mut s = setup(100, 1, 10, "valid-session", Some(tweak)).await;

    let (task, _) = sync(&mut s).await;

    assert_eq!(task["status"], "completed");
    let times: Vec<_> = s
        .salesforce
        .requests()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert!(times.len() >= 10);
    // One request per window of 250 ms: never more than 4 in a window's
    // second, give or take the one at a boundary, and 4 a second overall.
    for (i, start) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            .take_while(|t| **t - *start < Duration::from_secs(1))
            .count();
        assert!(within <= 5, "{within} requests within a second");
    }
    let span = *times.last().unwrap() - times[0];
    assert!(
        span >= Duration::from_millis(250 * (times.len() as u64 - 2)),
        "{} requests in {span:?} exceed 4 per second",
        times.len()
    );
    s.app.cleanup().await;
}

/// A Salesforce org reporting 95 % of its daily API requests used makes the
/// sync wait (still `running`, the reason in its message), not fail: one
/// request per pause finds out whether the usage dropped; once it has, the
/// sync goes on and completes.
#[tokio::test]
async fn a_provider_near_its_daily_limit_makes_the_sync_wait_not_fail() {
    let tweak: fn(&mut sync_core::config::Settings) = |s| {
        s.providers.limit_pause = Duration::from_secs(3);
    };
    let s = setup(300, 1, 50, "valid-session", Some(tweak)).await;
    s.salesforce.set_limit_info(Some("api-usage=4750/5000"));
    let tenant = s.integration.tenant_id;
    let task_id = s.app.trigger_inbound(tenant, &s.integration.id).await;

    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let waiting = loop {
        let task = s.app.get_task(tenant, &task_id).await;
        assert!(
            tokio::time::Instant::now() < deadline,
            "never shown waiting: {task}"
        );
        if task["message"].is_string() {
            break task;
        }
        assert_ne!(task["status"], "failed", "{task}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(waiting["status"], "running", "{waiting}");
    let message = waiting["message"].as_str().unwrap();
    assert!(
        message.contains("4750 of 5000 daily API requests"),
        "{message}"
    );
    // Still waiting a while later: nothing read meanwhile beyond probes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = s.app.get_task(tenant, &task_id).await;
    assert_eq!(later["status"], "running", "{later}");
    assert!(later["recordsProcessed"].as_u64().unwrap() < 300, "{later}");

    s.salesforce.set_limit_info(Some("api-usage=1200/5000"));
    let task = s.app.wait_for_task_end(tenant, &task_id, TIMEOUT).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["recordsProcessed"], 300);
    assert!(
        task.get("message").is_none(),
        "cleared once it went on: {task}"
    );
    s.app.cleanup().await;
}
