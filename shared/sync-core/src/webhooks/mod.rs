//! Webhooks tenants register to receive this service's events: registration
//! rules (URL guard, event catalogue, write-only secret) and their storage.
//! Delivering to them is the webhook-delivery crate's.

mod service;
pub mod url_guard;

pub use service::{CreateWebhook, UpdateWebhook, WebhookError, WebhookService, WebhookView};

/// An event type a webhook can subscribe to: the subscribable part of the
/// catalogue (`EventType::is_subscribable`), as an OpenAPI enum.
pub struct SubscribableEvent;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for SubscribableEvent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use crate::domain::events::EventType;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("An event type a webhook can subscribe to."))
            .enum_values(Some(EventType::subscribable().map(EventType::name)))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for SubscribableEvent {}
