//! `kill -9` of the container runner while a webhook delivery waits for its
//! next attempt: after a restart on the same store, the recovery sweep resumes
//! the delivery under the same delivery id and it is delivered.

mod support;

use std::time::Duration;

use integration_tests::{fakes::webhook_receiver::WebhookReceiver, sandbox_integration};
use serde_json::json;
use support::{Site, get_json, post_json, token, trigger_inbound};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_webhook_retry_then_restart_delivers_under_the_same_delivery_id() {
    let fixture = sandbox_integration(&["contact"], 5);
    let site = Site::new(&[&fixture.integration]);
    // The receiver is on loopback: allow it, as a development setup would.
    let defaults = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/default.yaml"),
    )
    .unwrap();
    let config = site.dir.path().join("config.yaml");
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

    let receiver = WebhookReceiver::failing_first(2);
    let url = receiver.start().await;
    let token = token(fixture.tenant);
    let http = &site.http;
    let (mut first, base) = site.start("first.log", &retries).await;
    let registered = post_json(
        http,
        &base,
        &token,
        fixture.tenant,
        "/api/v1/webhooks",
        &json!({"integrationId": fixture.integration.id, "url": url, "events": ["integration.sync.completed"]}),
    )
    .await;
    let webhook = registered["webhookId"]
        .as_str()
        .unwrap_or_else(|| panic!("registered: {registered}"))
        .to_owned();
    trigger_inbound(http, &base, &token, fixture.tenant, &fixture.integration.id).await;

    receiver.calls_reach(2, Duration::from_secs(30)).await;
    // Past the second attempt's record, inside the 3 s wait before the third.
    tokio::time::sleep(Duration::from_millis(700)).await;
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();
    let deliveries_path = format!("/api/v1/webhooks/{webhook}/deliveries");

    let (_second, base) = site.start("second.log", &retries).await;
    let stranded = get_json(http, &base, &token, fixture.tenant, &deliveries_path).await;
    assert_eq!(
        stranded["items"][0]["status"], "pending",
        "killed mid-retry: {stranded}"
    );
    receiver.calls_reach(3, Duration::from_secs(30)).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        let log = get_json(http, &base, &token, fixture.tenant, &deliveries_path).await;
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
    let calls = receiver.delivery_ids();
    let logs = site.log("second.log");
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
    assert_eq!(receiver.calls().len(), 3, "resumed only once");
}
