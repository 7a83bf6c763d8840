//! `on-schedule`: integration.sync.scheduled → an inbound sync of every enabled
//! mapping of the integration; on its EventBridge schedule, publishes
//! integration.sync.check_due and resumes runs and webhook deliveries whose
//! function died.

use function_runtime::{Functions, Timer};
use sync_core::{assembly::Core, inbound::consumes};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = function_runtime::settings()?;
    let store = function_runtime::store(&settings).await?;
    let bus = function_runtime::bus(&settings)?;
    let syncing = sync_adapters::syncing(&settings, store, bus)?;
    let (deliveries, sweeping) = (syncing.deliveries.clone(), syncing.deliveries);
    let functions = Functions::new(Core::assemble(settings, syncing.adapters))
        .settle_with(move || {
            let deliveries = deliveries.clone();
            async move { deliveries.idle().await }
        })
        // Webhook deliveries whose function died mid-retry are resumed here.
        .sweep_with(move || {
            let deliveries = sweeping.clone();
            async move {
                if let Err(e) = deliveries.recover().await {
                    tracing::warn!(error = %e, "webhook delivery sweep failed; the next schedule retries");
                }
            }
        });
    function_runtime::run(functions, consumes::ON_SCHEDULE, Some(Timer::CheckDue)).await
}
