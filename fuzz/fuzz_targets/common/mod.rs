//! One app per fuzzing process, on embedded defaults (SQLite in a temporary
//! directory, the in-process bus, the shipped integrations file), and the
//! runtime that drives it. Built once: libFuzzer calls a target millions of
//! times in one process.

#![allow(dead_code)]

use std::sync::OnceLock;

use sync_core::config;
use tokio::runtime::Runtime;
use wiring::App;

pub struct Harness {
    pub runtime: Runtime,
    pub app: App,
    _data: tempfile::TempDir,
}

/// A tenant no seed names, so fuzzed events never start real syncs of the
/// shipped demo integration.
pub const TENANT: &str = "3f0b8a52-4a1e-4c53-9d2b-0c1d2e3f4a5b";

pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let text = std::fs::read_to_string(format!("{root}/config/default.yaml"))
            .expect("config/default.yaml");
        let mut settings = config::load_from_str(&text).expect("the default config loads");
        let data = tempfile::tempdir().expect("temp dir");
        settings.storage.data_dir = data.path().display().to_string();
        settings.storage.integrations_file = format!("{root}/config/integrations.yaml");
        settings.rabbitmq.url = None;
        settings.cosmos_db.endpoint = None;
        settings.services.integration_manager.url = None;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let app = runtime
            .block_on(App::build(settings))
            .expect("the app builds on embedded defaults");
        Harness {
            runtime,
            app,
            _data: data,
        }
    })
}
