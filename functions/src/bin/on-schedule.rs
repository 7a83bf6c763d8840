//! `on-schedule`: integration.sync.scheduled → an inbound sync of every enabled
//! mapping of the integration; on its EventBridge schedule, publishes
//! integration.sync.check_due.

use integration_sync_functions::{Timer, run_trigger};
use sync_core::triggers::consumes;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_trigger(consumes::ON_SCHEDULE, Some(Timer::CheckDue)).await
}
