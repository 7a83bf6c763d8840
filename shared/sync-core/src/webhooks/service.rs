//! Registering, reading, changing and removing webhooks, tenant-scoped.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::url_guard::{HostAllowlist, check_url};
use crate::{
    domain::{TenantId, Webhook, events::EventType},
    ports::store::{Filter, Query, StoreError},
    repository::Repository,
};

const MAX_EVENTS: usize = 32;
const MIN_SECRET_LEN: usize = 16;
const MAX_SECRET_LEN: usize = 256;
/// More webhooks than this on one integration is a misconfiguration.
const MAX_WEBHOOKS_PER_INTEGRATION: usize = 50;

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhook {
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9._:-]{1,200}$", min_length = 1, max_length = 200)
    )]
    pub integration_id: String,
    /// https URL of a public host (or an allowlisted local one).
    #[cfg_attr(feature = "openapi", schema(format = "uri", max_length = 2048))]
    pub url: String,
    /// Event types from the catalogue, e.g. `integration.sync.completed`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<super::SubscribableEvent>, min_items = 1, max_items = 32))]
    pub events: Vec<String>,
    /// Signing secret, 16 to 256 characters. Write-only: never returned.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, min_length = 16, max_length = 256))]
    pub secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWebhook {
    #[cfg_attr(feature = "openapi", schema(format = "uri", max_length = 2048))]
    pub url: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<super::SubscribableEvent>>, min_items = 1, max_items = 32))]
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
    /// A new signing secret; an empty string removes it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub secret: Option<String>,
}

/// A webhook as the API shows it: the secret only as `hasSecret`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub webhook_id: Uuid,
    /// The tenant (partition key).
    pub tenant_id: Uuid,
    pub integration_id: String,
    pub url: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<super::SubscribableEvent>))]
    pub events: Vec<String>,
    pub has_secret: bool,
    pub active: bool,
    /// False once deliveries keep failing.
    pub healthy: bool,
    #[serde(with = "crate::domain::time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::domain::time")]
    pub updated_at: DateTime<Utc>,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        WebhookView {
            webhook_id: w.webhook_id,
            tenant_id: w.tenant_id,
            integration_id: w.integration_id.clone(),
            url: w.url.clone(),
            events: w.events.clone(),
            has_secret: w.secret.is_some(),
            active: w.active,
            healthy: w.healthy,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook not found")]
    NotFound,
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(
        "integration {0} already has the most webhooks allowed ({MAX_WEBHOOKS_PER_INTEGRATION})"
    )]
    TooMany(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> WebhookError {
    WebhookError::Invalid {
        field,
        message: message.into(),
    }
}

#[derive(Clone)]
pub struct WebhookService {
    repo: Repository,
    allowlist: HostAllowlist,
    /// Told when a tenant's webhooks change (delivery caches them).
    on_change: Option<Arc<dyn Fn(TenantId) + Send + Sync>>,
}

impl WebhookService {
    pub fn new(repo: Repository, allowlist: HostAllowlist) -> Self {
        WebhookService {
            repo,
            allowlist,
            on_change: None,
        }
    }

    /// `on_change` hears of every change to a tenant's webhooks, so that
    /// changes take effect for delivery at once.
    pub fn on_change(mut self, on_change: impl Fn(TenantId) + Send + Sync + 'static) -> Self {
        self.on_change = Some(Arc::new(on_change));
        self
    }

    fn changed(&self, tenant: TenantId) {
        if let Some(on_change) = &self.on_change {
            on_change(tenant);
        }
    }

    /// A webhook's deliveries, newest first; `NotFound` for an unknown webhook.
    pub async fn deliveries(
        &self,
        tenant: TenantId,
        webhook_id: Uuid,
        limit: usize,
        continuation: Option<&str>,
    ) -> Result<crate::repository::Page<crate::domain::webhook::WebhookDelivery>, WebhookError>
    {
        self.repo
            .get::<Webhook>(tenant, &webhook_id.to_string())
            .await?
            .ok_or(WebhookError::NotFound)?;
        let query = Query {
            filters: vec![Filter::eq("webhookId", webhook_id.to_string())],
            order_by: "createdAt",
            descending: true,
        };
        self.repo
            .query(tenant, &query, limit, continuation)
            .await
            .map_err(|e| match e {
                StoreError::InvalidQuery(m) => WebhookError::Invalid {
                    field: "continuation",
                    message: m,
                },
                other => other.into(),
            })
    }

    pub async fn create(
        &self,
        tenant: TenantId,
        input: CreateWebhook,
    ) -> Result<WebhookView, WebhookError> {
        if input.integration_id.trim().is_empty() || input.integration_id.len() > 200 {
            return Err(invalid("integrationId", "must be 1 to 200 characters"));
        }
        let url = self.check_url(&input.url)?;
        let events = check_events(input.events)?;
        let secret = input.secret.map(check_secret).transpose()?;
        if self
            .list_for_integration(tenant, &input.integration_id)
            .await?
            .len()
            >= MAX_WEBHOOKS_PER_INTEGRATION
        {
            return Err(WebhookError::TooMany(input.integration_id));
        }
        let now = crate::domain::time::now();
        let webhook = Webhook {
            webhook_id: Uuid::new_v4(),
            tenant_id: tenant,
            integration_id: input.integration_id,
            url,
            events,
            secret,
            active: true,
            consecutive_failures: 0,
            healthy: true,
            created_at: now,
            updated_at: now,
        };
        self.repo.create(&webhook).await?;
        self.changed(tenant);
        Ok(WebhookView::from(&webhook))
    }

    pub async fn get(&self, tenant: TenantId, id: Uuid) -> Result<WebhookView, WebhookError> {
        let stored = self.repo.get::<Webhook>(tenant, &id.to_string()).await?;
        stored
            .map(|v| WebhookView::from(&v.doc))
            .ok_or(WebhookError::NotFound)
    }

    pub async fn update(
        &self,
        tenant: TenantId,
        id: Uuid,
        input: UpdateWebhook,
    ) -> Result<WebhookView, WebhookError> {
        let url = input
            .url
            .as_deref()
            .map(|u| self.check_url(u))
            .transpose()?;
        let events = input.events.map(check_events).transpose()?;
        let secret = match input.secret {
            None => None,
            Some(s) if s.is_empty() => Some(None),
            Some(s) => Some(Some(check_secret(s)?)),
        };
        let updated = self
            .repo
            .update::<Webhook, _>(tenant, &id.to_string(), |w| {
                if let Some(url) = &url {
                    w.url = url.clone();
                }
                if let Some(events) = &events {
                    w.events = events.clone();
                }
                if let Some(active) = input.active {
                    w.active = active;
                }
                if let Some(secret) = &secret {
                    w.secret = secret.clone();
                }
                w.updated_at = crate::domain::time::now();
                true
            })
            .await
            .map_err(not_found)?;
        self.changed(tenant);
        Ok(WebhookView::from(&updated.doc))
    }

    pub async fn delete(&self, tenant: TenantId, id: Uuid) -> Result<(), WebhookError> {
        self.repo
            .store()
            .delete(
                crate::ports::Collection::Webhooks,
                tenant,
                &id.to_string(),
                None,
            )
            .await
            .map_err(not_found)?;
        self.changed(tenant);
        Ok(())
    }

    pub async fn list_for_integration(
        &self,
        tenant: TenantId,
        integration_id: &str,
    ) -> Result<Vec<WebhookView>, WebhookError> {
        let query = Query {
            filters: vec![Filter::eq("integrationId", integration_id)],
            order_by: "createdAt",
            descending: false,
        };
        let mut views = Vec::new();
        let mut continuation = None;
        loop {
            let page = self
                .repo
                .query::<Webhook>(tenant, &query, 100, continuation.as_deref())
                .await?;
            views.extend(page.items.iter().map(WebhookView::from));
            match page.continuation {
                Some(next) if views.len() < MAX_WEBHOOKS_PER_INTEGRATION * 2 => {
                    continuation = Some(next)
                }
                _ => return Ok(views),
            }
        }
    }

    fn check_url(&self, url: &str) -> Result<String, WebhookError> {
        check_url(url, &self.allowlist)
            .map(|u| u.to_string())
            .map_err(|e| invalid("url", e.to_string()))
    }
}

fn not_found(e: StoreError) -> WebhookError {
    match e {
        StoreError::NotFound => WebhookError::NotFound,
        other => other.into(),
    }
}

fn check_events(events: Vec<String>) -> Result<Vec<String>, WebhookError> {
    if events.is_empty() || events.len() > MAX_EVENTS {
        return Err(invalid(
            "events",
            format!("must list 1 to {MAX_EVENTS} event types"),
        ));
    }
    let mut unique: Vec<String> = Vec::with_capacity(events.len());
    for event in events {
        if !EventType::published(&event).is_some_and(EventType::is_subscribable) {
            let names: Vec<&str> = EventType::subscribable().map(EventType::name).collect();
            return Err(invalid(
                "events",
                format!(
                    "unknown event type `{}`; expected one of {}",
                    truncate(&event),
                    names.join(", ")
                ),
            ));
        }
        if !unique.contains(&event) {
            unique.push(event);
        }
    }
    Ok(unique)
}

fn check_secret(secret: String) -> Result<SecretString, WebhookError> {
    let len = secret.chars().count();
    if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&len) || secret.chars().any(char::is_control) {
        return Err(invalid(
            "secret",
            format!("must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} printable characters"),
        ));
    }
    Ok(SecretString::from(secret))
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}
