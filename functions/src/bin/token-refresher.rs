//! `token-refresher`: integration.token.refresh-requested → one refresh per
//! connection at a time across all instances; on its EventBridge schedule,
//! publishes integration.token.check_expiring.

use integration_sync_functions::{Timer, run_trigger};
use sync_core::triggers::consumes;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_trigger(consumes::TOKEN_REFRESHER, Some(Timer::CheckExpiring)).await
}
