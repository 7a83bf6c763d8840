//! `kill -9` of the container runner in the middle of a 100,000-record sandbox
//! sync: after a restart on the same store and broker the sync completes and
//! every record's event is on the test queue at least once.

use std::{path::Path, process::Stdio, time::Duration};

use integration_tests::{
    EventObserver, broker::published_ids, faults::free_port, sandbox_integration,
    spawn::test_settings,
};
use serde_json::Value;
use sync_core::auth::TokenIssuer;
use tokio::process::{Child, Command};
use uuid::Uuid;

const BINARY: &str = env!("CARGO_BIN_EXE_integration-sync");
const RECORDS: u64 = 100_000;

struct Names {
    exchange: String,
    suffix: String,
}

fn spawn_runner(port: u16, dir: &Path, names: &Names, log: &str) -> Child {
    let log = std::fs::File::create(dir.join(log)).unwrap();
    Command::new(BINARY)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("DATA_DIR", dir.join("data"))
        .env("INTEGRATIONS_FILE", dir.join("integrations.yaml"))
        .env("RABBITMQ_URL", integration_tests::rabbitmq_url())
        .env("RABBITMQ_EXCHANGE", &names.exchange)
        .env("RABBITMQ_QUEUE", format!("it.service.{}", names.suffix))
        .env("RABBITMQ_DLX", format!("it.dlx.{}", names.suffix))
        .env("RABBITMQ_DLQ", format!("it.dlq.{}", names.suffix))
        .env("INTEGRATION_SYNC__RABBITMQ__QUEUE_EXPIRES_MS", "60000")
        .env("SYNC_SCHEDULER_ENABLED", "false")
        .env("TOKEN_REFRESH_ENABLED", "false")
        .env("SYNC_MAX_RECORDS", "10000000")
        .env("SYNC_MIN_INTERVAL_MINUTES", "0")
        // A dead run is noticed 3 s after its last heartbeat.
        .env("INTEGRATION_SYNC__SYNC_LIMITS__LEASE_TTL_MS", "3000")
        .env("RECOVERY_INTERVAL_MS", "300")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .env_remove("COSMOS_DB_ENDPOINT")
        .env_remove("JWT_SECRET")
        .current_dir(env!("CARGO_MANIFEST_DIR").to_owned() + "/..")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the runner at {base} never became healthy");
}

async fn get_task(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    tenant: Uuid,
    id: &str,
) -> Value {
    http.get(format!("{base}/api/v1/sync/tasks/{id}"))
        .bearer_auth(token)
        .header("X-Tenant-ID", tenant.to_string())
        .send()
        .await
        .expect("get task")
        .json()
        .await
        .expect("task json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_sync_then_restart_completes_with_every_record_published() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = sandbox_integration(&["account"], RECORDS);
    let yaml = serde_json::json!({"integrations": [fixture.integration]}).to_string();
    std::fs::write(dir.path().join("integrations.yaml"), yaml).unwrap();
    let suffix = Uuid::new_v4().simple().to_string();
    let names = Names {
        exchange: format!("it.events.{suffix}"),
        suffix,
    };
    let mut observer = EventObserver::bind(&names.exchange).await;
    let token = TokenIssuer::new(&test_settings().jwt).user_token(
        "fault-test",
        Some(fixture.tenant),
        Duration::from_secs(900),
    );
    let http = outgoing_http::client_builder().build().unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = spawn_runner(port, dir.path(), &names, "first.log");
    wait_healthy(&http, &base).await;
    let triggered: Value = http
        .post(format!("{base}/api/v1/sync/trigger"))
        .bearer_auth(&token)
        .header("X-Tenant-ID", fixture.tenant.to_string())
        .json(&serde_json::json!({"integrationId": fixture.integration.id, "direction": "inbound"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let task_id = triggered["taskId"].as_str().expect("taskId").to_owned();

    // Let it get a fifth of the way, then kill it without warning.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let task = get_task(&http, &base, &token, fixture.tenant, &task_id).await;
        assert!(
            matches!(task["status"].as_str(), Some("pending" | "running")),
            "the sync ended before the kill: {task}"
        );
        if task["recordsProcessed"].as_u64().unwrap_or(0) >= RECORDS / 5 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "too slow: {task}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _second = spawn_runner(port, dir.path(), &names, "second.log");
    wait_healthy(&http, &base).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let task = loop {
        let task = get_task(&http, &base, &token, fixture.tenant, &task_id).await;
        if task["status"] != "running" {
            break task;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not resumed to its end: {task}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let logs = std::fs::read_to_string(dir.path().join("second.log")).unwrap_or_default();
    assert_eq!(
        task["status"], "completed",
        "{task}\nsecond runner's log:\n{logs}"
    );
    assert_eq!(task["attempts"], 2, "one run killed, one resumed: {task}");

    let events = observer
        .collect_until("integration.sync.completed", Duration::from_secs(60))
        .await;
    let ids = published_ids(&events);
    assert_eq!(
        ids.len() as u64,
        RECORDS,
        "every record's event at least once ({} events seen)",
        events.len()
    );
    let duplicates = ids.values().filter(|n| **n > 1).count();
    eprintln!(
        "{} events; {duplicates} records published more than once (redelivered after the kill)",
        events.len()
    );
}
