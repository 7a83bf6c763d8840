//! The deployment files validate: the SAM template (cfn-lint) and the compose
//! file (docker-compose config). scripts/test installs both tools; a missing
//! tool fails the test.

use std::{path::PathBuf, process::Command};

fn repository() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn tool(env: &str, name: &str) -> String {
    let tool = std::env::var(env).unwrap_or_else(|_| name.to_owned());
    let found = Command::new(&tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is not installed; run scripts/test (it installs it) or set {env}"
    );
    tool
}

#[test]
fn the_sam_template_passes_cfn_lint() {
    let cfn_lint = tool("CFN_LINT_BIN", "cfn-lint");
    let output = Command::new(cfn_lint)
        .arg(repository().join("infra/template.yaml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cfn-lint: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_compose_file_is_valid() {
    let compose = tool("DOCKER_COMPOSE_BIN", "docker-compose");
    let output = Command::new(compose)
        .args(["-f", "local/docker-compose.yml", "config", "-q"])
        .current_dir(repository())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_function_binary_is_deployed_by_the_template() {
    let template = std::fs::read_to_string(repository().join("infra/template.yaml")).unwrap();
    for binary in integration_tests::lambda::FUNCTIONS {
        assert!(
            template.contains(&format!("Binary: {binary}")),
            "{binary} is not deployed"
        );
    }
    assert_eq!(template.matches("BuildMethod: rust-cargolambda").count(), 6);
}
