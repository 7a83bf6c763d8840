//! Webhooks tenants register to receive this service's events: registration
//! rules (URL guard, event catalogue, write-only secret) and their storage.

pub mod delivery;
mod service;
pub mod url_guard;

pub use service::{CreateWebhook, UpdateWebhook, WebhookError, WebhookService, WebhookView};

// The catalogue as an OpenAPI enum, for the document only: validation uses
// SUBSCRIBABLE_EVENTS so that an error can name the unknown value.
/// An event type a webhook can subscribe to.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub enum SubscribableEvent {
    #[schema(rename = "integration.sync.started")]
    SyncStarted,
    #[schema(rename = "integration.sync.completed")]
    SyncCompleted,
    #[schema(rename = "integration.sync.failed")]
    SyncFailed,
    #[schema(rename = "integration.sync.cancelled")]
    SyncCancelled,
    #[schema(rename = "integration.data.raw")]
    DataRaw,
    #[schema(rename = "integration.data.raw.batch")]
    DataRawBatch,
    #[schema(rename = "integration.opportunity.updated")]
    OpportunityUpdated,
    #[schema(rename = "integration.conflict.detected")]
    ConflictDetected,
    #[schema(rename = "integration.data.synced")]
    DataSynced,
    #[schema(rename = "integration.token.refreshed")]
    TokenRefreshed,
    #[schema(rename = "integration.token.refresh.failed")]
    TokenRefreshFailed,
}

/// Event types a webhook may subscribe to: everything this service publishes.
pub const SUBSCRIBABLE_EVENTS: &[&str] = &[
    crate::domain::events::types::SYNC_STARTED,
    crate::domain::events::types::SYNC_COMPLETED,
    crate::domain::events::types::SYNC_FAILED,
    crate::domain::events::types::SYNC_CANCELLED,
    crate::domain::events::types::DATA_RAW,
    crate::domain::events::types::DATA_RAW_BATCH,
    crate::domain::events::types::OPPORTUNITY_UPDATED,
    crate::domain::events::types::CONFLICT_DETECTED,
    crate::domain::events::types::DATA_SYNCED,
    crate::domain::events::types::TOKEN_REFRESHED,
    crate::domain::events::types::TOKEN_REFRESH_FAILED,
];
