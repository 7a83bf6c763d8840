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

/// The functions' start: the broker handshake is not waited for, and the
/// first publish waits for the connection instead of failing.
#[tokio::test]
async fn a_start_that_connects_in_the_background_publishes_once_connected() {
    use bus_rabbitmq::RabbitMqBus;
    use sync_core::{
        domain::events::{EventFactory, EventMetadata, EventType},
        ports::EventBus,
    };
    let settings = integration_tests::spawn::test_settings();
    let tolerance = std::time::Duration::from_secs(20);
    let url = settings.rabbitmq.url.clone().unwrap();
    let bus = RabbitMqBus::connect_in_background(&settings.rabbitmq, &url, tolerance).unwrap();
    let event = EventFactory::new("probe").build(
        EventType::SyncCompleted,
        uuid::Uuid::new_v4(),
        serde_json::json!({"probe": true}),
        &EventMetadata::default(),
    );
    tokio::time::timeout(std::time::Duration::from_secs(20), bus.publish(&[event]))
        .await
        .expect("the publish waited for the connection, not forever")
        .expect("confirmed once connected");

    // The start does not depend on the broker answering: with nothing
    // listening it still succeeds (connecting first, it fails).
    let unreachable = "amqp://guest:guest@127.0.0.1:1/%2f";
    assert!(
        RabbitMqBus::connect_in_background(&settings.rabbitmq, unreachable, tolerance).is_ok(),
        "a start in the background does not wait for the broker"
    );
    assert!(
        RabbitMqBus::connect(&settings.rabbitmq, unreachable, tolerance)
            .await
            .is_err(),
        "a start that connects first fails without a broker"
    );
    assert!(
        RabbitMqBus::connect_in_background(&settings.rabbitmq, "not-a-broker-url", tolerance)
            .is_err(),
        "a malformed URL still fails the start"
    );
}
