//! Triggers: what the service does for each event it consumes, shared by the
//! container's consumer and the functions. Handling is idempotent per event id
//! (processed ids are remembered for `mapping.idempotency_ttl`); a message that
//! can never be processed is `Rejected` so the host dead-letters and
//! acknowledges it instead of retrying it forever.

mod dispatch;
mod mapping;
mod processed;
pub mod timers;
mod token;

pub use dispatch::{EventDispatcher, HandleError, Handled};
pub use token::TokenRefresher;

/// The event types each function consumes (the container consumes them all).
pub mod consumes {
    use crate::domain::events::types::*;

    pub const ON_SHARD_UPDATED: &[&str] = &[SHARD_UPDATED];
    pub const ON_WEBHOOK: &[&str] = &[WEBHOOK_RECEIVED];
    pub const ON_SCHEDULE: &[&str] = &[SYNC_SCHEDULED];
    pub const TOKEN_REFRESHER: &[&str] = &[TOKEN_REFRESH_REQUESTED];
    pub const ON_MAPPING_RESULT: &[&str] = &[DATA_MAPPED, DATA_MAPPING_FAILED];
    pub const ALL: &[&str] = &[
        SHARD_UPDATED,
        WEBHOOK_RECEIVED,
        SYNC_SCHEDULED,
        TOKEN_REFRESH_REQUESTED,
        DATA_MAPPED,
        DATA_MAPPING_FAILED,
    ];
}
