//! One error type per engine operation.

use super::limits::LimitRejection;
use crate::{
    domain::Direction,
    ports::{ProviderError, PublishError, StoreError, Transience},
};

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("integration {0} not found")]
    IntegrationNotFound(String),
    #[error("integration {0} is not active")]
    IntegrationInactive(String),
    /// integration-manager's document for it cannot be used; the text names the field.
    #[error("integration {id} cannot be synced: {reason}")]
    IntegrationInvalid { id: String, reason: String },
    #[error("direction `{}` is not supported yet; only `inbound` syncs run", .0.as_str())]
    UnsupportedDirection(Direction),
    #[error("provider `{0}` has no adapter in this service")]
    UnknownProvider(String),
    #[error("entity type `{0}` is not enabled in the integration's entity mappings")]
    EntityNotMapped(String),
    #[error("integration {0} has no enabled entity mappings")]
    NoEntities(String),
    #[error("the integration directory is unavailable: {0}")]
    DirectoryUnavailable(String),
    #[error(transparent)]
    Limited(#[from] LimitRejection),
    #[error("the task store failed: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Transience for TriggerError {
    fn is_transient(&self) -> bool {
        match self {
            TriggerError::DirectoryUnavailable(_) => true,
            TriggerError::Store(e) => e.is_transient(),
            // A limit is not an outage: the caller is told when to come back.
            _ => false,
        }
    }
}

impl From<super::outbound::OutboundError> for RunError {
    fn from(e: super::outbound::OutboundError) -> Self {
        use super::outbound::OutboundError;
        match e {
            OutboundError::Store(e) => RunError::Store(e),
            OutboundError::Publish(e) => RunError::Publish(e),
            OutboundError::Provider(e) => RunError::Provider(e),
            other => RunError::Provider(ProviderError::Unexpected(anyhow::anyhow!(other))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GetTaskError {
    #[error("task not found")]
    NotFound,
    #[error("the task store failed: {0}")]
    Store(#[from] StoreError),
}

/// Why a run stopped before completing. Its text becomes the task's `error`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("interrupted: the service is shutting down")]
    Interrupted,
    #[error("the run lost its concurrency lease (it could not be renewed in time)")]
    LeaseLost,
    #[error("the task is not pending; another run has it")]
    AlreadyStarted,
    #[error("cancelled on request")]
    Cancelled,
    #[error("the run died and the task cannot be resumed: {0}")]
    NotResumable(String),
    #[error(
        "mass-delete breaker: this run would delete {deletions} of {known} known `{entity_type}` records; \
         it stopped before deleting them. Check the integration, then re-run"
    )]
    MassDelete {
        entity_type: String,
        deletions: u64,
        known: u64,
    },
    /// A provider answered a page already read in this run: it ignores the
    /// paging it was asked for, and going on would read the same records forever.
    #[error(
        "the provider returned the same page of `{entity_type}` twice (at page {page} of this run): \
         it ignores the paging asked of it (integration-manager's adapters may ignore `offset`); \
         the run stopped instead of reading it forever"
    )]
    RepeatedPage { entity_type: String, page: u64 },
    #[error("provider error: {0}")]
    Provider(#[from] ProviderError),
    #[error("publishing events failed: {0}")]
    Publish(#[from] PublishError),
    #[error("the task store failed: {0}")]
    Store(#[from] StoreError),
}
