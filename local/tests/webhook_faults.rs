//! `kill -9` of the container runner while a webhook delivery waits for its
//! next attempt: after a restart on the same store, the recovery sweep resumes
//! the delivery under the same delivery id and it is delivered.

mod support;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use integration_tests::{faults::free_port, sandbox_integration, spawn::test_settings};
use serde_json::{Value, json};
use support::{Names, get_json, spawn_runner, trigger_inbound, wait_healthy};
use sync_core::auth::TokenIssuer;

/// Delivery ids of the calls received; the first `refuse` calls get a 500.
#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<Vec<String>>>,
    refuse: usize,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap) -> StatusCode {
    let id = headers
        .get("x-webhook-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut calls = receiver.calls.lock().unwrap();
    calls.push(id);
    if calls.len() <= receiver.refuse {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn calls_reach(receiver: &Receiver, n: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while receiver.calls.lock().unwrap().len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the receiver got {} calls, not {n}",
            receiver.calls.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_webhook_retry_then_restart_delivers_under_the_same_delivery_id() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = sandbox_integration(&["contact"], 5);
    let yaml = json!({"integrations": [fixture.integration]}).to_string();
    std::fs::write(dir.path().join("integrations.yaml"), yaml).unwrap();
    // The receiver is on loopback: allow it, as a development setup would.
    let defaults = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/default.yaml"),
    )
    .unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        defaults.replace("allowed_hosts: []", "allowed_hosts: [\"127.0.0.1\"]"),
    )
    .unwrap();
    let config = config.display().to_string();
    // Two refused attempts, then a 3 s wait for the third: the kill lands in it.
    let retries = [
        ("CONFIG_FILE", config.as_str()),
        ("INTEGRATION_SYNC__WEBHOOKS__BACKOFF_MIN_MS", "3000"),
        ("INTEGRATION_SYNC__WEBHOOKS__BACKOFF_MAX_MS", "3000"),
        ("INTEGRATION_SYNC__WEBHOOKS__TIMEOUT_MS", "1000"),
        ("INTEGRATION_SYNC__WEBHOOKS__MAX_ATTEMPTS", "5"),
        ("WEBHOOK_STALE_AFTER_MS", "500"),
    ];

    let receiver = Receiver {
        refuse: 2,
        ..Default::default()
    };
    let router = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let names = Names::fresh();
    let token = TokenIssuer::new(&test_settings().jwt).user_token(
        "fault-test",
        Some(fixture.tenant),
        Duration::from_secs(900),
    );
    let http = outgoing_http::client_builder().build().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = spawn_runner(port, dir.path(), &names, "first.log", &retries);
    wait_healthy(&http, &base).await;
    let registered: Value = http
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&token)
        .header("X-Tenant-ID", fixture.tenant.to_string())
        .json(&json!({"integrationId": fixture.integration.id, "url": url, "events": ["integration.sync.completed"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let webhook = registered["webhookId"]
        .as_str()
        .unwrap_or_else(|| panic!("registered: {registered}"))
        .to_owned();
    trigger_inbound(
        &http,
        &base,
        &token,
        fixture.tenant,
        &fixture.integration.id,
    )
    .await;

    calls_reach(&receiver, 2, Duration::from_secs(30)).await;
    // Past the second attempt's record, inside the 3 s wait before the third.
    tokio::time::sleep(Duration::from_millis(700)).await;
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();
    let deliveries_path = format!("/api/v1/webhooks/{webhook}/deliveries");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _second = spawn_runner(port, dir.path(), &names, "second.log", &retries);
    wait_healthy(&http, &base).await;
    let stranded = get_json(&http, &base, &token, fixture.tenant, &deliveries_path).await;
    assert_eq!(
        stranded["items"][0]["status"], "pending",
        "killed mid-retry: {stranded}"
    );
    calls_reach(&receiver, 3, Duration::from_secs(30)).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        let log = get_json(&http, &base, &token, fixture.tenant, &deliveries_path).await;
        let delivery = log["items"][0].clone();
        if delivery["status"] != "pending" {
            break delivery;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending: {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let calls = receiver.calls.lock().unwrap().clone();
    let logs = std::fs::read_to_string(dir.path().join("second.log")).unwrap_or_default();
    assert_eq!(
        delivery["status"], "delivered",
        "{delivery}\nsecond runner's log:\n{logs}"
    );
    assert_eq!(delivery["attempts"], 3, "two before the kill, one after");
    assert_eq!(calls.len(), 3, "no attempt repeated: {calls:?}");
    assert!(
        calls.iter().all(|id| *id == delivery["deliveryId"]),
        "every attempt under the one delivery id: {calls:?} vs {delivery}"
    );
    // Nothing left to resume: the marker went with the delivery.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.calls.lock().unwrap().len(), 3, "resumed only once");
}
