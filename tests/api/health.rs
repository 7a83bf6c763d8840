//! Liveness and readiness.

use integration_tests::{SpawnOptions, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn health_and_ready_answer_without_credentials_and_report_dependencies() {
    let app = spawn_app(SpawnOptions::default()).await;
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["store"]["status"], "up");
    assert_eq!(body["checks"]["eventBus"]["status"], "up");
    app.cleanup().await;
}

#[tokio::test]
async fn unknown_routes_answer_404_in_the_error_shape() {
    let app = spawn_app(SpawnOptions::default()).await;
    let response = app
        .http
        .get(app.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    app.cleanup().await;
}

#[tokio::test]
async fn ready_checks_cosmos_db_when_it_is_the_store() {
    let app = spawn_app(SpawnOptions {
        cosmos: true,
        ..Default::default()
    })
    .await;
    let ready = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["store"]["status"], "up");
    app.cleanup().await;
}
