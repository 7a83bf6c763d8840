//! EventBridge schedules: the two timers.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;
use serde_json::Value;
use sync_core::domain::events::types;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// `integration.sync.check_due` (on-schedule).
    CheckDue,
    /// `integration.token.check_expiring` (token-refresher).
    CheckExpiring,
}

impl Timer {
    pub fn event_type(self) -> &'static str {
        match self {
            Timer::CheckDue => types::SYNC_CHECK_DUE,
            Timer::CheckExpiring => types::TOKEN_CHECK_EXPIRING,
        }
    }
}

/// An EventBridge scheduled event (`source: aws.events`, `detail-type:
/// Scheduled Event`), read as `aws_lambda_events` defines it.
pub fn is_schedule(event: &Value) -> bool {
    EventBridgeEvent::<Value>::deserialize(event)
        .is_ok_and(|e| e.source == "aws.events" && e.detail_type == "Scheduled Event")
}
