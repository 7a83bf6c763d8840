//! Webhooks tenants register to receive this service's events: registration
//! rules (URL guard, event catalogue, write-only secret) and their storage.
//! Delivering to them is the webhook-delivery crate's.

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
    #[schema(rename = "integration.data.raw_batch")]
    DataRawBatch,
    #[schema(rename = "integration.data.deleted")]
    DataDeleted,
    #[schema(rename = "integration.conflict.detected")]
    ConflictDetected,
    #[schema(rename = "integration.data.synced")]
    DataSynced,
    #[schema(rename = "integration.token.refreshed")]
    TokenRefreshed,
    #[schema(rename = "integration.token.refresh_failed")]
    TokenRefreshFailed,
}

/// Event types a webhook may subscribe to: what this service publishes about
/// tenants' data and syncs (not the timers' ticks, which concern no tenant).
pub const SUBSCRIBABLE_EVENTS: &[&str] = &[
    EventType::SyncStarted.name(),
    EventType::SyncCompleted.name(),
    EventType::SyncFailed.name(),
    EventType::SyncCancelled.name(),
    EventType::DataRaw.name(),
    EventType::DataRawBatch.name(),
    EventType::DataDeleted.name(),
    EventType::ConflictDetected.name(),
    EventType::DataSynced.name(),
    EventType::TokenRefreshed.name(),
    EventType::TokenRefreshFailed.name(),
];

use crate::domain::events::EventType;
