//! Property-based fuzzing of the running API from its own OpenAPI document
//! (schemathesis): no 5xx for any input, and no response that violates the
//! document. `scripts/test` installs schemathesis; without it this test fails.

use std::{path::PathBuf, process::Stdio, time::Duration};

use integration_tests::{SpawnOptions, sandbox_integration, spawn_app};

/// Examples per operation; the run stays well under a minute.
const MAX_EXAMPLES: &str = "25";

fn schemathesis() -> PathBuf {
    let path = std::env::var_os("SCHEMATHESIS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/integration-sync/venv/bin/st")
        });
    assert!(
        path.exists(),
        "schemathesis is not installed at {}; run scripts/test (it installs it) or set SCHEMATHESIS_BIN",
        path.display()
    );
    path
}

#[tokio::test]
async fn fuzzing_the_api_from_its_openapi_document_finds_no_server_error_or_violation() {
    let st = schemathesis();
    let fixture = sandbox_integration(&["opportunity"], 20);
    let tweak: fn(&mut sync_core::config::Settings) = |s| {
        // The fuzzer triggers syncs back to back.
        s.sync_limits.max_concurrent_syncs_per_tenant = 50;
    };
    let app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        tweak: Some(tweak),
        ..Default::default()
    })
    .await;
    let token = app.token_for(fixture.tenant);

    let run = tokio::process::Command::new(st)
        .arg("run")
        .arg(app.url("/openapi.yaml"))
        .args(["--url", &app.address])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["-H", &format!("X-Tenant-ID: {}", fixture.tenant)])
        .args(["--checks", "all"])
        // Opaque continuation tokens and the public-https rule for webhook URLs
        // cannot be expressed in a schema, so "every schema-valid input is
        // accepted" is not a property of this API.
        .args(["--exclude-checks", "positive_data_acceptance"])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", "20261127"])
        .args(["--request-timeout", "10"])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the fuzz run ends within five minutes")
        .expect("schemathesis starts");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("passed"), "no test case ran:\n{report}");
    app.cleanup().await;
}
