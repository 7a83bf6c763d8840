//! `token-refresher`: integration.token.refresh-requested → one refresh per
//! connection at a time across all instances (through integration-manager);
//! on its EventBridge schedule, publishes integration.token.check_expiring.
//! It syncs nothing, so it wires no provider.

use std::sync::Arc;

use function_runtime::{Functions, Timer};
use platform::Neighbours;
use sync_core::{
    assembly::{Adapters, Core},
    inbound::consumes,
    ports::ProviderRegistry,
};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = function_runtime::settings()?;
    let store = function_runtime::store(&settings).await?;
    let bus = function_runtime::bus(&settings)?;
    let (bus, deliveries) = webhook_delivery::delivering(&settings, &store, bus)?;
    let neighbours = Neighbours::build(&settings)?;
    let adapters = Adapters {
        store,
        bus,
        directory: function_runtime::no_directory(),
        providers: ProviderRegistry::default(),
        shards: None,
        connections: neighbours.integration_manager.map(|m| Arc::new(m) as _),
    };
    let functions = Functions::new(Core::assemble(settings, adapters)).settle_with(move || {
        let deliveries = deliveries.clone();
        async move { deliveries.idle().await }
    });
    function_runtime::run(
        functions,
        consumes::TOKEN_REFRESHER,
        Some(Timer::CheckExpiring),
    )
    .await
}
