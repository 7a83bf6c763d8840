//! Running the container binary as a process of its own, on a data directory
//! and broker names of the test's own, so a test can kill it and start it again.

#![allow(dead_code)] // Each test file uses a part.

use std::{path::Path, process::Stdio, time::Duration};

use integration_tests::{faults::free_port, spawn::test_settings};
use serde_json::Value;
use sync_core::{auth::TokenIssuer, domain::Integration};
use tokio::process::{Child, Command};
use uuid::Uuid;

pub const BINARY: &str = env!("CARGO_BIN_EXE_integration-sync");

/// The broker names of one test: its exchange, service queue and dead letters.
pub struct Names {
    pub exchange: String,
    pub suffix: String,
}

impl Names {
    pub fn fresh() -> Self {
        let suffix = Uuid::new_v4().simple().to_string();
        Names {
            exchange: format!("it.events.{suffix}"),
            suffix,
        }
    }

    pub fn queue(&self) -> String {
        format!("it.service.{}", self.suffix)
    }

    pub fn dlx(&self) -> String {
        format!("it.dlx.{}", self.suffix)
    }

    pub fn dlq(&self) -> String {
        format!("it.dlq.{}", self.suffix)
    }
}

/// The binary with the test's store, integrations file and broker names,
/// quick recovery, and `extra` environment on top; its log in `dir/<log>`.
pub fn runner_command(dir: &Path, names: &Names, log: &str, extra: &[(&str, &str)]) -> Command {
    let log = std::fs::File::create(dir.join(log)).unwrap();
    let mut command = Command::new(BINARY);
    command
        .env("HOST", "127.0.0.1")
        .env("DATA_DIR", dir.join("data"))
        .env("INTEGRATIONS_FILE", dir.join("integrations.yaml"))
        .env("RABBITMQ_URL", integration_tests::rabbitmq_url())
        .env("RABBITMQ_EXCHANGE", &names.exchange)
        .env("RABBITMQ_QUEUE", names.queue())
        .env("RABBITMQ_DLX", names.dlx())
        .env("RABBITMQ_DLQ", names.dlq())
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
        .kill_on_drop(true);
    for (key, value) in extra {
        command.env(key, value);
    }
    command
}

/// Serves on `port` (see [`runner_command`]).
pub fn spawn_runner(
    port: u16,
    dir: &Path,
    names: &Names,
    log: &str,
    extra: &[(&str, &str)],
) -> Child {
    runner_command(dir, names, log, extra)
        .env("PORT", port.to_string())
        .spawn()
        .unwrap()
}

pub async fn wait_healthy(http: &reqwest::Client, base: &str) {
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

pub async fn get_json(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    tenant: Uuid,
    path: &str,
) -> Value {
    http.get(format!("{base}{path}"))
        .bearer_auth(token)
        .header("X-Tenant-ID", tenant.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {path} answers JSON: {e}"))
}

pub async fn get_task(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    tenant: Uuid,
    id: &str,
) -> Value {
    get_json(
        http,
        base,
        token,
        tenant,
        &format!("/api/v1/sync/tasks/{id}"),
    )
    .await
}

pub async fn trigger_inbound(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    tenant: Uuid,
    integration: &str,
) -> String {
    let body = serde_json::json!({"integrationId": integration, "direction": "inbound"});
    let triggered = post_json(http, base, token, tenant, "/api/v1/sync/trigger", &body).await;
    triggered["taskId"].as_str().expect("taskId").to_owned()
}

/// Where a test's runners live: a data directory with the integrations file,
/// broker names of its own, and an HTTP client.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub names: Names,
    pub http: reqwest::Client,
}

impl Site {
    pub fn new(integrations: &[&Integration]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let yaml = serde_json::json!({ "integrations": integrations }).to_string();
        std::fs::write(dir.path().join("integrations.yaml"), yaml).unwrap();
        Site {
            dir,
            names: Names::fresh(),
            http: outgoing_http::client_builder().build().unwrap(),
        }
    }

    /// The binary on this site (see [`runner_command`]), not yet started.
    pub fn command(&self, log: &str, extra: &[(&str, &str)]) -> Command {
        runner_command(self.dir.path(), &self.names, log, extra)
    }

    /// A runner on a free port, once it is healthy; and its base URL.
    pub async fn start(&self, log: &str, extra: &[(&str, &str)]) -> (Child, String) {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let child = spawn_runner(port, self.dir.path(), &self.names, log, extra);
        wait_healthy(&self.http, &base).await;
        (child, base)
    }

    /// What the runner wrote to `log`.
    pub fn log(&self, log: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(log)).unwrap_or_default()
    }
}

/// A user token for `tenant`, signed as the runners' configuration expects.
pub fn token(tenant: Uuid) -> String {
    TokenIssuer::new(&test_settings().jwt).user_token(
        "local-test",
        Some(tenant),
        Duration::from_secs(900),
    )
}

pub async fn post_json(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    tenant: Uuid,
    path: &str,
    body: &Value,
) -> Value {
    http.post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("X-Tenant-ID", tenant.to_string())
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("POST {path} answers JSON: {e}"))
}
