//! `on-webhook`: integration.webhook.received → a targeted inbound sync of what changed.

use function_runtime::Functions;
use sync_core::{assembly::Core, inbound::consumes};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = function_runtime::settings()?;
    let store = function_runtime::store(&settings).await?;
    let bus = function_runtime::bus(&settings)?;
    let syncing = sync_adapters::syncing(&settings, store, bus)?;
    let deliveries = syncing.deliveries;
    let functions =
        Functions::new(Core::assemble(settings, syncing.adapters)).settle_with(move || {
            let deliveries = deliveries.clone();
            async move { deliveries.idle().await }
        });
    function_runtime::run(functions, consumes::ON_WEBHOOK, None).await
}
