//! An invocation payload of a function (Amazon MQ batch, schedule, or
//! anything else a misconfigured trigger sends), through the real handler.

#![no_main]

mod common;

use std::sync::OnceLock;

use function_runtime::Functions;
use libfuzzer_sys::fuzz_target;
use sync_core::inbound::consumes;

fuzz_target!(|payload: &[u8]| {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return; // the Lambda runtime only ever hands us JSON
    };
    static FUNCTIONS: OnceLock<(tokio::runtime::Runtime, Functions)> = OnceLock::new();
    let (runtime, functions) = FUNCTIONS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let text = std::fs::read_to_string(format!("{root}/config/default.yaml")).unwrap();
        let mut settings = sync_core::config::load_from_str(&text).unwrap();
        let data = tempfile::tempdir().unwrap().keep();
        settings.storage.data_dir = data.display().to_string();
        settings.storage.integrations_file = format!("{root}/config/integrations.yaml");
        settings.rabbitmq.url = None;
        settings.cosmos_db.endpoint = None;
        settings.services.integration_manager.url = None;
        let app = runtime.block_on(wiring::App::build(settings)).unwrap();
        (runtime, Functions::new(app.core))
    });
    let _ = runtime.block_on(functions.handle(event, consumes::ALL, None));
});
