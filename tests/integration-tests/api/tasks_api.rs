//! Listing, paging, filtering and cancelling tasks; a task's executions.

use std::{collections::HashSet, time::Duration};

use integration_tests::{SpawnOptions, sandbox_integration, spawn_app};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(30);

async fn get_json(app: &integration_tests::TestApp, tenant: Uuid, path: &str) -> (u16, Value) {
    let response = app.authed(Method::GET, path, tenant).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn tasks_are_listed_newest_first_filtered_and_paged_without_gaps() {
    let a = sandbox_integration(&["contact"], 5);
    let mut b = sandbox_integration(&["contact"], 5).integration;
    b.tenant_id = a.tenant;
    let app = spawn_app(SpawnOptions {
        integrations: vec![a.integration.clone(), b.clone()],
        ..Default::default()
    })
    .await;
    let mut of_a = Vec::new();
    for _ in 0..5 {
        let id = app.trigger_inbound(a.tenant, &a.integration.id).await;
        app.wait_for_task_end(a.tenant, &id, TIMEOUT).await;
        of_a.push(id);
    }
    let of_b = app.trigger_inbound(a.tenant, &b.id).await;
    app.wait_for_task_end(a.tenant, &of_b, TIMEOUT).await;

    // Paging through integration A two at a time yields each task once, newest first.
    let mut seen = Vec::new();
    let mut path = format!(
        "/api/v1/sync/tasks?integrationId={}&limit=2",
        a.integration.id
    );
    loop {
        let (status, page) = get_json(&app, a.tenant, &path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|t| t["taskId"].as_str().unwrap().to_owned()),
        );
        match page["continuation"].as_str() {
            Some(next) => {
                path = format!(
                    "/api/v1/sync/tasks?integrationId={}&limit=2&continuation={}",
                    a.integration.id,
                    urlencode(next)
                );
            }
            None => break,
        }
    }
    let expected: Vec<String> = of_a.iter().rev().cloned().collect();
    assert_eq!(seen, expected);

    let (_, completed) = get_json(
        &app,
        a.tenant,
        "/api/v1/sync/tasks?status=completed&direction=inbound&limit=200",
    )
    .await;
    let all: HashSet<&str> = completed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskId"].as_str().unwrap())
        .collect();
    assert_eq!(all.len(), 6);
    let (_, failed) = get_json(&app, a.tenant, "/api/v1/sync/tasks?status=failed").await;
    assert!(failed["items"].as_array().unwrap().is_empty());

    let future = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, none_yet) = get_json(
        &app,
        a.tenant,
        &format!("/api/v1/sync/tasks?createdFrom={}", urlencode(&future)),
    )
    .await;
    assert!(none_yet["items"].as_array().unwrap().is_empty());
    let (_, until_now) = get_json(
        &app,
        a.tenant,
        &format!("/api/v1/sync/tasks?createdTo={}", urlencode(&future)),
    )
    .await;
    assert_eq!(until_now["items"].as_array().unwrap().len(), 6);

    for (query, field) in [
        ("status=paused", "status"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("createdFrom=yesterday", "createdFrom"),
        ("continuation=forged", "continuation"),
        ("direction=up", "direction"),
    ] {
        let (status, error) =
            get_json(&app, a.tenant, &format!("/api/v1/sync/tasks?{query}")).await;
        assert_eq!(status, 400, "{query}: {error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(field),
            "{query}: {error}"
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_running_task_cancelled_stops_at_its_next_page_and_records_cancelled() {
    let fixture = sandbox_integration(&["contact"], 2_000_000);
    let mut app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        page_size: Some(50),
        ..Default::default()
    })
    .await;
    let task_id = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    let _ = app
        .events
        .collect_until("integration.data.raw", TIMEOUT)
        .await;

    let response = app
        .authed(
            Method::POST,
            &format!("/api/v1/sync/tasks/{task_id}/cancel"),
            fixture.tenant,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let flagged: Value = response.json().await.unwrap();
    assert_eq!(flagged["cancelRequested"], true);

    let events = app
        .events
        .collect_until("integration.sync.cancelled", TIMEOUT)
        .await;
    let cancelled = &events.last().unwrap().1;
    assert_eq!(cancelled["data"]["taskId"], task_id.as_str());
    let task = app
        .wait_for_task_end(fixture.tenant, &task_id, TIMEOUT)
        .await;
    assert_eq!(task["status"], "cancelled");
    let processed = task["recordsProcessed"].as_u64().unwrap();
    assert!(processed > 0 && processed < 2_000_000, "{processed}");

    let again = app
        .authed(
            Method::POST,
            &format!("/api/v1/sync/tasks/{task_id}/cancel"),
            fixture.tenant,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"]["code"], "task_ended");

    let unknown = app
        .authed(
            Method::POST,
            &format!("/api/v1/sync/tasks/{}/cancel", Uuid::new_v4()),
            fixture.tenant,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    app.cleanup().await;
}

#[tokio::test]
async fn a_pending_task_is_cancelled_at_once_saying_by_whom() {
    use sync_core::domain::{Direction, SyncTask};
    let fixture = sandbox_integration(&["contact"], 5);
    let app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        ..Default::default()
    })
    .await;
    // A task stored as pending and not yet picked up by any runner.
    let task = SyncTask::new_pending(
        fixture.tenant,
        fixture.integration.id.clone(),
        Direction::Inbound,
        None,
        None,
        None,
    );
    app.repository().await.create(&task).await.unwrap();

    let response = app
        .authed(
            Method::POST,
            &format!("/api/v1/sync/tasks/{}/cancel", task.task_id),
            fixture.tenant,
        )
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "cancelled");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(integration_tests::spawn::TEST_USER)
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_tasks_executions_are_listed_with_their_counters() {
    let fixture = sandbox_integration(&["account"], 30);
    let app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        ..Default::default()
    })
    .await;
    let task_id = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    let task = app
        .wait_for_task_end(fixture.tenant, &task_id, TIMEOUT)
        .await;

    let (status, page) = get_json(
        &app,
        fixture.tenant,
        &format!("/api/v1/sync/tasks/{task_id}/executions"),
    )
    .await;

    assert_eq!(status, 200);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["executionId"], task["executionId"]);
    assert_eq!(items[0]["status"], "completed");
    assert_eq!(items[0]["recordsProcessed"], 30);
    assert!(items[0]["completedAt"].is_string());
    let (status, _) = get_json(
        &app,
        fixture.tenant,
        &format!("/api/v1/sync/tasks/{}/executions", Uuid::new_v4()),
    )
    .await;
    assert_eq!(status, 404);
    app.cleanup().await;
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
