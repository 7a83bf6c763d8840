//! The container binary: starts on embedded defaults, reports healthy to its
//! own health check, and stops cleanly on SIGTERM.

use std::{process::Stdio, time::Duration};

use integration_tests::faults::free_port;

const BINARY: &str = env!("CARGO_BIN_EXE_integration-sync");

async fn healthcheck(port: u16) -> bool {
    tokio::process::Command::new(BINARY)
        .arg("healthcheck")
        .env("PORT", port.to_string())
        .current_dir(env!("CARGO_MANIFEST_DIR").to_owned() + "/..")
        .status()
        .await
        .unwrap()
        .success()
}

#[tokio::test]
async fn the_runner_starts_on_embedded_defaults_is_healthy_and_stops_on_sigterm() {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let mut runner = tokio::process::Command::new(BINARY)
        .env("PORT", port.to_string())
        .env("DATA_DIR", data.path())
        .env("SYNC_SCHEDULER_ENABLED", "false")
        .env("TOKEN_REFRESH_ENABLED", "false")
        .env_remove("RABBITMQ_URL")
        .env_remove("COSMOS_DB_ENDPOINT")
        .current_dir(env!("CARGO_MANIFEST_DIR").to_owned() + "/..")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut healthy = false;
    for _ in 0..100 {
        if healthcheck(port).await {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy, "the runner never became healthy");

    let pid = runner.id().unwrap().to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(term.success());
    let status = tokio::time::timeout(Duration::from_secs(15), runner.wait())
        .await
        .expect("stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "a graceful stop exits 0: {status}");
    assert!(!healthcheck(port).await, "nothing answers once stopped");
}
