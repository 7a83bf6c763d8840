//! The provider port: an external system (CRM) read in pages and written back.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{ExternalRecord, Integration};

/// One page to fetch. `cursor` is whatever the previous page returned as
/// `next_cursor`; `None` starts from the beginning.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub entity_type: String,
    pub cursor: Option<String>,
    pub page_size: usize,
    pub filters: Option<serde_json::Value>,
    /// Only records modified at or after this instant (inclusive). `None`:
    /// everything. Providers that cannot filter return everything; the engine
    /// deduplicates by content hash either way.
    pub modified_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct RecordPage {
    pub records: Vec<ExternalRecord>,
    /// `None` when this was the last page.
    pub next_cursor: Option<String>,
    /// How many records the whole query matches, when the provider says
    /// (Salesforce's `totalSize`): what a run's progress has left to read.
    pub total: Option<u64>,
}

/// A change to write back to the external system.
#[derive(Debug, Clone)]
pub struct PushRequest {
    pub entity_type: String,
    pub external_id: String,
    /// Only the fields that change.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Write only if the record was not modified after this instant (conditional write).
    pub if_unmodified_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PushOutcome {
    pub modified_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("provider rate limit reached; retry after {retry_after:?}")]
    RateLimited { retry_after: Option<Duration> },
    #[error("provider rejected the credentials")]
    Unauthorized,
    #[error("record or entity not found at the provider: {0}")]
    NotFound(String),
    /// A conditional write found the record changed at the provider.
    #[error("the record changed at the provider since it was read")]
    PreconditionFailed,
    #[error("unsupported by this provider: {0}")]
    Unsupported(String),
    /// Timeouts, 5xx, connection failures: worth retrying.
    #[error("transient provider failure: {0}")]
    Transient(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Guarantees every implementation gives:
/// - pages are ordered by modification time, then id (ascending), and following
///   `next_cursor` from `None` visits every record modified at or after
///   `modified_since` that existed throughout the walk, deleted ones included
///   (`deleted: true`) where the provider reports deletions;
/// - a page holds at most `page_size` records;
/// - errors are classified (`RateLimited`, `Transient`, ...) so callers can retry.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    async fn fetch_page(
        &self,
        integration: &Integration,
        request: PageRequest,
    ) -> Result<RecordPage, ProviderError>;

    async fn push(
        &self,
        integration: &Integration,
        request: PushRequest,
    ) -> Result<PushOutcome, ProviderError>;

    /// Records to ask for per page, given the configured page size (what a
    /// CRM API is asked for). A provider whose pages cost no CRM request
    /// (integration-manager's fetch route) asks for its own.
    fn page_size(&self, configured: usize) -> usize {
        configured
    }

    /// Whether `push` can write at all; outbound sync is refused up front
    /// for a provider that cannot (nothing is read or merged first).
    fn can_push(&self) -> bool {
        true
    }

    /// Why requests of `integration` to this provider wait now (the provider
    /// said it is near its limit), when they do: a run shows it.
    fn waiting(&self, _integration: &Integration) -> Option<String> {
        None
    }

    /// Whether `modified_since` narrows what is read. Without a change window
    /// every run would walk everything from the start, so the engine resumes
    /// such a provider from the page its last run stopped before.
    fn has_change_window(&self) -> bool {
        true
    }

    /// One record as it is now; `None` when the provider has no such record.
    async fn get_record(
        &self,
        integration: &Integration,
        entity_type: &str,
        external_id: &str,
    ) -> Result<Option<ExternalRecord>, ProviderError> {
        let _ = (integration, entity_type, external_id);
        Err(ProviderError::Unsupported("reading a single record".into()))
    }

    /// The mergeable fields of a canonical record (its top level by default).
    fn fields_of(&self, record: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        record.as_object().cloned().unwrap_or_default()
    }

    /// The canonical record with `fields` written in (`null` removes a field).
    fn with_fields(
        &self,
        record: &serde_json::Value,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> serde_json::Value {
        let mut record = record.clone();
        if let Some(map) = record.as_object_mut() {
            apply_fields(map, fields);
        }
        record
    }

    /// Bookkeeping fields that change without the record's content changing
    /// (modification stamps, API metadata); ignored by change detection.
    fn volatile_fields(&self) -> &'static [&'static str] {
        &[]
    }

    /// Fields the provider owns (ids, deletion flags, API metadata): never
    /// merged, never written back, not part of a change set.
    fn owned_fields(&self) -> &'static [&'static str] {
        &["Id", "id"]
    }
}

/// Providers by the key integrations name them with (`Integration::provider`).
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    providers: HashMap<String, Arc<dyn Provider>>,
    /// Serves providers without an adapter of their own (integration-manager).
    fallback: Option<Arc<dyn Provider>>,
}

impl ProviderRegistry {
    pub fn with(mut self, key: &str, provider: Arc<dyn Provider>) -> Self {
        self.providers.insert(key.to_ascii_lowercase(), provider);
        self
    }

    pub fn with_fallback(mut self, provider: Arc<dyn Provider>) -> Self {
        self.fallback = Some(provider);
        self
    }

    pub fn get(&self, key: &str) -> Option<Arc<dyn Provider>> {
        self.providers
            .get(&key.to_ascii_lowercase())
            .cloned()
            .or_else(|| self.fallback.clone())
    }
}

/// Writes `fields` into `map`; `null` removes a field.
pub fn apply_fields(
    map: &mut serde_json::Map<String, serde_json::Value>,
    fields: &serde_json::Map<String, serde_json::Value>,
) {
    for (key, value) in fields {
        if value.is_null() {
            map.remove(key);
        } else {
            map.insert(key.clone(), value.clone());
        }
    }
}
