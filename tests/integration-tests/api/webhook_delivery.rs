//! Webhook delivery end to end: a receiver on port 0, the real RabbitMQ.

use std::time::Duration;

use integration_tests::{
    SpawnOptions, TestApp, fakes::webhook_receiver::WebhookReceiver, sandbox_integration, spawn_app,
};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;
use webhook_delivery::signing;

const TIMEOUT: Duration = Duration::from_secs(30);
const SECRET: &str = "receiver-shared-secret-123";

fn quick_retries(s: &mut sync_core::config::Settings) {
    s.webhooks.allowed_hosts = vec!["127.0.0.1".into()];
    s.webhooks.backoff_min = std::time::Duration::from_millis(20);
    s.webhooks.backoff_max = std::time::Duration::from_millis(100);
    s.webhooks.max_attempts = 4;
    s.webhooks.timeout = std::time::Duration::from_millis(1000);
    s.webhooks.unhealthy_after = 1;
}

async fn register(
    app: &TestApp,
    tenant: Uuid,
    integration: &str,
    url: &str,
    events: &[&str],
) -> String {
    let response = app
        .authed(Method::POST, "/api/v1/webhooks", tenant)
        .json(
            &json!({"integrationId": integration, "url": url, "events": events, "secret": SECRET}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["webhookId"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn deliveries(app: &TestApp, tenant: Uuid, webhook: &str) -> Vec<Value> {
    let page: Value = app
        .authed(
            Method::GET,
            &format!("/api/v1/webhooks/{webhook}/deliveries"),
            tenant,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_subscribed_event_is_delivered_once_signed_and_logged() {
    let fixture = sandbox_integration(&["contact"], 5);
    let app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        tweak: Some(quick_retries),
        ..Default::default()
    })
    .await;
    let receiver = WebhookReceiver::default();
    let url = receiver.start().await;
    let webhook = register(
        &app,
        fixture.tenant,
        &fixture.integration.id,
        &url,
        &["integration.sync.completed"],
    )
    .await;

    let task = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    app.wait_for_task_end(fixture.tenant, &task, TIMEOUT).await;
    receiver.calls_reach(1, TIMEOUT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let calls = receiver.calls();
    assert_eq!(calls.len(), 1, "delivered once");
    let (headers, body) = &calls[0];
    let envelope: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(envelope["type"], "integration.sync.completed");
    assert_eq!(envelope["data"]["taskId"], task.as_str());
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    let timestamp: i64 = header("x-webhook-timestamp").parse().unwrap();
    assert!(
        signing::verify(
            SECRET.as_bytes(),
            timestamp,
            body,
            &header("x-webhook-signature")
        ),
        "valid signature"
    );
    assert_eq!(header("x-webhook-id"), webhook);
    assert_eq!(header("x-webhook-event"), "integration.sync.completed");
    let log = deliveries(&app, fixture.tenant, &webhook).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["deliveryId"], header("x-webhook-delivery"));
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["lastStatusCode"], 200);
    assert_eq!(log[0]["eventId"], envelope["id"]);
    app.cleanup().await;
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_three_attempts_with_one_delivery_id() {
    let fixture = sandbox_integration(&["contact"], 5);
    let app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        tweak: Some(quick_retries),
        ..Default::default()
    })
    .await;
    let receiver = WebhookReceiver::failing_first(2);
    let url = receiver.start().await;
    let webhook = register(
        &app,
        fixture.tenant,
        &fixture.integration.id,
        &url,
        &["integration.sync.started"],
    )
    .await;

    app.trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    receiver.calls_reach(3, TIMEOUT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let calls = receiver.calls();
    assert_eq!(calls.len(), 3);
    let ids: Vec<_> = calls
        .iter()
        .map(|(h, _)| h["x-webhook-delivery"].clone())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "retries keep the delivery id, so receivers can deduplicate"
    );
    let log = deliveries(&app, fixture.tenant, &webhook).await;
    assert_eq!(
        (log[0]["status"].clone(), log[0]["attempts"].clone()),
        (json!("delivered"), json!(3))
    );
    app.cleanup().await;
}

#[tokio::test]
async fn inactive_webhooks_and_other_tenants_and_integrations_receive_nothing() {
    let fixture = sandbox_integration(&["contact"], 5);
    let app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        tweak: Some(quick_retries),
        ..Default::default()
    })
    .await;
    let receiver = WebhookReceiver::default();
    let url = receiver.start().await;
    let inactive = register(
        &app,
        fixture.tenant,
        &fixture.integration.id,
        &url,
        &["integration.sync.completed"],
    )
    .await;
    let deactivated = app
        .authed(
            Method::PUT,
            &format!("/api/v1/webhooks/{inactive}"),
            fixture.tenant,
        )
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 200);
    register(
        &app,
        Uuid::new_v4(),
        &fixture.integration.id,
        &url,
        &["integration.sync.completed"],
    )
    .await;
    register(
        &app,
        fixture.tenant,
        "another-integration",
        &url,
        &["integration.sync.completed"],
    )
    .await;

    let task = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    app.wait_for_task_end(fixture.tenant, &task, TIMEOUT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    assert!(receiver.calls.lock().unwrap().is_empty());
    app.cleanup().await;
}

#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_syncs_and_a_failing_one_is_marked_unhealthy() {
    let fixture = sandbox_integration(&["contact"], 300);
    let app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        tweak: Some(quick_retries),
        ..Default::default()
    })
    .await;
    let receiver = WebhookReceiver {
        hang: Some(Duration::from_secs(5)),
        ..Default::default()
    };
    let url = receiver.start().await;
    let webhook = register(
        &app,
        fixture.tenant,
        &fixture.integration.id,
        &url,
        &["integration.data.raw", "integration.sync.started"],
    )
    .await;

    let task = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    let ended = app
        .wait_for_task_end(fixture.tenant, &task, Duration::from_secs(3))
        .await;

    assert_eq!(
        ended["status"], "completed",
        "the sync did not wait for the receiver"
    );
    receiver.calls_reach(1, TIMEOUT).await;
    // Every attempt times out: the deliveries fail for good and the webhook is unhealthy.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let hook: Value = app
            .authed(
                Method::GET,
                &format!("/api/v1/webhooks/{webhook}"),
                fixture.tenant,
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if hook["healthy"] == false {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never marked unhealthy: {hook}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = deliveries(&app, fixture.tenant, &webhook).await;
    assert!(
        log.iter()
            .any(|d| d["status"] == "failed" && d["attempts"] == 4),
        "{log:?}"
    );
    app.cleanup().await;
}
