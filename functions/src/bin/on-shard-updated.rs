//! `on-shard-updated`: shard.updated → outbound / bidirectional sync.

use integration_sync_functions::run_trigger;
use sync_core::triggers::consumes;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_trigger(consumes::ON_SHARD_UPDATED, None).await
}
