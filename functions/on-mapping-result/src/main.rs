//! `on-mapping-result`: integration.data.mapped / mapping.failed → the task's
//! shardsCreated, shardsUpdated and recordsFailed counters, and the record's
//! link to its shard. It reads no integration and publishes nothing, so it
//! wires only the store and the bus (for dead letters).

use function_runtime::Functions;
use sync_core::{
    assembly::{Adapters, Core},
    inbound::consumes,
    ports::ProviderRegistry,
};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = function_runtime::settings()?;
    let adapters = Adapters {
        store: function_runtime::store(&settings).await?,
        bus: function_runtime::bus(&settings)?,
        directory: function_runtime::no_directory(),
        providers: ProviderRegistry::default(),
        shards: None,
        connections: None,
    };
    let functions = Functions::new(Core::assemble(settings, adapters));
    function_runtime::run(functions, consumes::ON_MAPPING_RESULT, None).await
}
