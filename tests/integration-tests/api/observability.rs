//! Metrics, and logs that trace a request without ever leaking a credential.

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use integration_tests::{SpawnOptions, sandbox_integration, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_report_syncs_and_publishes() {
    let fixture = sandbox_integration(&["opportunity"], 10);
    let app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        ..Default::default()
    })
    .await;
    let task_id = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    app.wait_for_task_end(fixture.tenant, &task_id, Duration::from_secs(30))
        .await;

    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let line = |needle: &str| text.lines().any(|l| l.contains(needle));
    assert!(
        line(
            r#"http_requests_total{method="GET",route="/api/v1/sync/tasks/{task_id}",status="200"}"#
        ),
        "{text}"
    );
    assert!(
        line(r#"http_requests_total{method="POST",route="/api/v1/sync/trigger",status="202"}"#),
        "{text}"
    );
    assert!(line("http_request_duration_seconds_bucket"), "{text}");
    assert!(
        line(r#"sync_runs_started_total{direction="inbound"}"#),
        "{text}"
    );
    assert!(
        line(r#"sync_runs_ended_total{status="completed"}"#),
        "{text}"
    );
    assert!(
        line(r#"events_published_total{type="integration.data.raw",outcome="confirmed"}"#),
        "{text}"
    );
    assert!(line("sync_records_published_total"), "{text}");
    app.cleanup().await;
}

/// Everything logged in this test process (nextest runs each test alone).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || SharedWriter(writer.clone()))
            .init();
        buffer
    })
    .clone()
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_request_and_correlation_ids_and_never_a_token_or_secret() {
    let logs = captured_logs();
    let fixture = sandbox_integration(&["contact"], 10);
    let app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        ..Default::default()
    })
    .await;
    let token = app.token_for(fixture.tenant);
    let secret = "webhook-secret-never-to-be-logged-42";

    let response = app
        .http
        .post(app.url("/api/v1/sync/trigger"))
        .bearer_auth(&token)
        .header("X-Tenant-ID", fixture.tenant.to_string())
        .header("X-Correlation-ID", "corr-from-the-gateway")
        .json(&json!({"integrationId": fixture.integration.id, "direction": "inbound"}))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let task: Value = response.json().await.unwrap();
    app.wait_for_task_end(
        fixture.tenant,
        task["taskId"].as_str().unwrap(),
        Duration::from_secs(30),
    )
    .await;
    app.authed(Method::POST, "/api/v1/webhooks", fixture.tenant)
        .json(&json!({"integrationId": "int-1", "url": "https://hooks.example.com/a", "events": ["integration.sync.failed"], "secret": secret}))
        .send()
        .await
        .unwrap();
    // A bad token is refused and must not be logged either.
    let forged = format!("{token}tampered");
    app.http
        .get(app.url("/api/v1/sync/tasks"))
        .bearer_auth(&forged)
        .header("X-Tenant-ID", fixture.tenant.to_string())
        .send()
        .await
        .unwrap();
    app.cleanup().await;

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(!text.is_empty(), "nothing was logged");
    for credential in [
        token.as_str(),
        forged.as_str(),
        secret,
        token.split('.').nth(2).unwrap(),
    ] {
        assert!(
            !text.contains(credential),
            "a credential appears in the logs"
        );
    }
    let of_request: Vec<&str> = text.lines().filter(|l| l.contains(&request_id)).collect();
    assert!(
        of_request.iter().any(|l| l.contains("sync task created")),
        "the engine's log line of the request carries its request id"
    );
    assert!(
        of_request
            .iter()
            .all(|l| l.contains("corr-from-the-gateway")),
        "and its correlation id"
    );
}
