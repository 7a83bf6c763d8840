//! Each function links only what it serves: its normal dependency tree
//! (`cargo tree -e normal`) holds no store, transport or HTTP stack it does
//! not use. Crates, not features, make this hold: one build of the workspace
//! unifies features, so a feature-gated adapter would reach every function.

use std::{collections::BTreeSet, process::Command};

fn dependencies(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "-p",
            package,
        ])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// What no function has any use for: the embedded store, the demo provider,
/// the container's consumer and wiring.
const NEVER_IN_A_FUNCTION: &[&str] = &[
    "rusqlite",
    "store-sqlite",
    "sandbox",
    "amqp-consumer",
    "wiring",
];
/// The HTTP server side: only `http-api` serves HTTP. (reqwest, the client
/// every adapter calls out with, brings tower-http's client layers itself.)
const HTTP_SERVER: &[&str] = &[
    "axum",
    "sync-http",
    "lambda_http",
    "utoipa",
    "metrics-exporter-prometheus",
];
/// What syncing needs: only the functions that run syncs.
const SYNCING: &[&str] = &["providers", "governor", "sync-adapters"];
/// What only a function that calls the platform or delivers webhooks needs.
const PLATFORM_AND_WEBHOOKS: &[&str] = &["platform", "webhook-delivery"];

fn assert_links_none(package: &str, forbidden: &[&[&str]]) {
    let tree = dependencies(package);
    assert!(
        tree.contains("sync-core")
            && tree.contains("store-cosmos")
            && tree.contains("bus-rabbitmq"),
        "{package} links the core, its store and its bus: {tree:?}"
    );
    let found: Vec<&str> = forbidden
        .iter()
        .flat_map(|group| group.iter())
        .filter(|name| tree.contains(**name))
        .copied()
        .collect();
    assert!(
        found.is_empty(),
        "{package} links {found:?}, which it does not serve"
    );
}

#[test]
fn each_function_links_only_what_it_serves() {
    assert_links_none("http-api", &[NEVER_IN_A_FUNCTION]);
    for syncing in ["on-shard-updated", "on-webhook", "on-schedule"] {
        assert_links_none(syncing, &[NEVER_IN_A_FUNCTION, HTTP_SERVER]);
    }
    assert_links_none(
        "token-refresher",
        &[NEVER_IN_A_FUNCTION, HTTP_SERVER, SYNCING],
    );
    assert_links_none(
        "on-mapping-result",
        &[
            NEVER_IN_A_FUNCTION,
            HTTP_SERVER,
            SYNCING,
            PLATFORM_AND_WEBHOOKS,
        ],
    );
}

#[test]
fn the_core_links_no_vendor_sdk() {
    let tree = dependencies("sync-core");
    for vendor in [
        "azure_data_cosmos",
        "lapin",
        "rusqlite",
        "reqwest",
        "axum",
        "lambda_runtime",
        "utoipa",
    ] {
        assert!(!tree.contains(vendor), "sync-core links {vendor}");
    }
}
