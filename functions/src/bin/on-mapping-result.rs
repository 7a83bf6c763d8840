//! `on-mapping-result`: integration.data.mapped / mapping.failed → the task's created, updated and failed counters.

use integration_sync_functions::run_trigger;
use sync_core::triggers::consumes;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_trigger(consumes::ON_MAPPING_RESULT, None).await
}
