//! Inbound: what the service does for each event it consumes, shared by the
//! container's consumer and the functions, and the timers' tick events. Handling is idempotent per event id
//! (processed ids are remembered for `mapping.idempotency_ttl`); a message that
//! can never be processed is `Rejected` so the host dead-letters and
//! acknowledges it instead of retrying it forever.

mod dispatch;
mod mapping;
mod outcome;
mod processed;
pub mod timers;
mod token;

pub use dispatch::{EventDispatcher, HandleError, Handled};
pub use outcome::Outcome;
pub use token::{RefreshOutcome, TokenRefresher};

/// The event types each function consumes (the container consumes them all).
pub mod consumes {
    use crate::domain::events::EventType::{self, *};

    pub const ON_SHARD_UPDATED: &[EventType] = &[ShardUpdated];
    pub const ON_WEBHOOK: &[EventType] = &[WebhookReceived];
    /// The function that owns runs: it also takes up tasks handed to it.
    pub const ON_SCHEDULE: &[EventType] = &[SyncScheduled, SyncRunRequested];
    pub const TOKEN_REFRESHER: &[EventType] = &[TokenRefreshRequested];
    pub const ON_MAPPING_RESULT: &[EventType] = &[DataMapped, DataMappingFailed];
    pub const ALL: &[EventType] = &EventType::CONSUMED;
}
