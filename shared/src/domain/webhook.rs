//! A webhook a tenant registered for an integration's events.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TenantId;

/// Stored form. The secret is kept for signing deliveries and is never part of
/// an API response (the HTTP layer has its own view type).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub webhook_id: Uuid,
    pub tenant_id: TenantId,
    pub integration_id: String,
    pub url: String,
    pub events: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_secret"
    )]
    pub secret: Option<SecretString>,
    pub active: bool,
    #[serde(with = "crate::domain::time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::domain::time")]
    pub updated_at: DateTime<Utc>,
}

fn serialize_secret<S: serde::Serializer>(
    secret: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    match secret {
        Some(secret) => s.serialize_str(secret.expose_secret()),
        None => s.serialize_none(),
    }
}
