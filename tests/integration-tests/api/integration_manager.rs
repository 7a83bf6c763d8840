//! Integrations read from integration-manager's HTTP API (a fake on port 0).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::get,
};
use integration_tests::{SpawnOptions, sandbox_integration, spawn_app};
use serde_json::Value;
use sync_core::domain::Integration;

/// The Authorization and X-Tenant-ID headers of one request.
type SeenHeaders = (Option<String>, Option<String>);

#[derive(Clone, Default)]
struct FakeManager {
    integrations: Arc<Vec<Integration>>,
    seen: Arc<Mutex<Vec<SeenHeaders>>>,
}

async fn get_integration(
    State(fake): State<FakeManager>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    fake.seen
        .lock()
        .unwrap()
        .push((header("authorization"), header("x-tenant-id")));
    let found = fake
        .integrations
        .iter()
        .find(|i| i.id == id)
        .ok_or(StatusCode::NOT_FOUND)?;
    // integration-manager answers the document itself (routes/index.ts).
    Ok(Json(serde_json::to_value(found).unwrap()))
}

async fn start_fake(integrations: Vec<Integration>) -> (String, FakeManager) {
    let fake = FakeManager {
        integrations: Arc::new(integrations),
        ..Default::default()
    };
    let router = Router::new()
        .route("/api/v1/integrations/{id}", get(get_integration))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (address, fake)
}

#[tokio::test]
async fn a_sync_runs_on_an_integration_read_from_integration_manager() {
    let fixture = sandbox_integration(&["account"], 20);
    let (url, fake) = start_fake(vec![fixture.integration.clone()]).await;
    let mut app = spawn_app(SpawnOptions {
        integration_manager_url: Some(url),
        ..Default::default()
    })
    .await;

    let task_id = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    let task = app
        .wait_for_task_end(fixture.tenant, &task_id, Duration::from_secs(30))
        .await;

    assert_eq!(task["status"], "completed");
    assert_eq!(task["recordsProcessed"], 20);
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (authorization, tenant) = &seen[0];
    let token = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .expect("bearer token");
    let verifier = sync_core::auth::TokenVerifier::new(&app.settings.jwt);
    assert_eq!(verifier.verify(token).unwrap().tenant_id, fixture.tenant);
    assert_eq!(tenant.as_deref(), Some(fixture.tenant.to_string().as_str()));
    let _ = app
        .events
        .collect_until("integration.sync.completed", Duration::from_secs(10))
        .await;

    // An integration integration-manager does not know is a 404 to the caller.
    let response = app
        .trigger(
            fixture.tenant,
            serde_json::json!({"integrationId": "unknown-1", "direction": "inbound"}),
        )
        .await;
    assert_eq!(response.status(), 404);
    app.cleanup().await;
}

#[tokio::test]
async fn an_unreachable_integration_manager_is_503_not_500() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app(SpawnOptions {
        integration_manager_url: Some(format!("http://127.0.0.1:{port}")),
        ..Default::default()
    })
    .await;
    let tenant = uuid::Uuid::new_v4();
    let response = app
        .trigger(
            tenant,
            serde_json::json!({"integrationId": "any", "direction": "inbound"}),
        )
        .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "service_unavailable");
    app.cleanup().await;
}
