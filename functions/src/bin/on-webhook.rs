//! `on-webhook`: integration.webhook.received → a targeted inbound sync of what changed.

use integration_sync_functions::run_trigger;
use sync_core::triggers::consumes;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_trigger(consumes::ON_WEBHOOK, None).await
}
