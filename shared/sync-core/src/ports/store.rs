//! The store port, shaped like a document store with a partition key.
//!
//! Every document lives in a [`Collection`] and a partition (the tenant); ids are
//! unique within a partition only, so two tenants may hold the same id without
//! ever seeing each other's document. Every write returns a new opaque [`ETag`],
//! and read-modify-write goes through [`DocumentStore::replace`] with the ETag it
//! read (optimistic concurrency, as Cosmos DB's If-Match).

use async_trait::async_trait;
use serde_json::Value;

use crate::domain::TenantId;

/// Logical containers. Each adapter maps them to its own tables or containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    SyncTasks,
    Executions,
    Conflicts,
    Webhooks,
    /// Concurrency slots and interval marks that enforce limits across instances.
    Leases,
    /// Per-record sync state (content hash, last synced snapshot, tombstone)
    /// and per-entity cursors.
    SyncState,
    /// Ids of consumed events already handled (idempotent consumption).
    ProcessedEvents,
    /// Webhook deliveries and their attempts.
    Deliveries,
}

impl Collection {
    pub const ALL: [Collection; 8] = [
        Collection::SyncTasks,
        Collection::Executions,
        Collection::Conflicts,
        Collection::Webhooks,
        Collection::Leases,
        Collection::SyncState,
        Collection::ProcessedEvents,
        Collection::Deliveries,
    ];

    /// Stable short name, used as the SQLite discriminator and in logs.
    pub fn key(self) -> &'static str {
        match self {
            Collection::SyncTasks => "sync_tasks",
            Collection::Executions => "executions",
            Collection::Conflicts => "conflicts",
            Collection::Webhooks => "webhooks",
            Collection::Leases => "leases",
            Collection::SyncState => "sync_state",
            Collection::ProcessedEvents => "processed_events",
            Collection::Deliveries => "deliveries",
        }
    }
}

/// Opaque version token of a stored document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(pub String);

#[derive(Debug, Clone)]
pub struct StoredDocument {
    pub id: String,
    pub etag: ETag,
    /// The document as written (adapters may add their own system fields).
    pub body: Value,
}

/// A document as JSON text (see [`DocumentStore::read_many_text`]).
#[derive(Debug, Clone)]
pub struct TextDocument {
    pub id: String,
    pub etag: ETag,
    pub body: String,
}

impl TextDocument {
    /// The body parsed, for callers of the `Value` operations.
    pub fn parse(self) -> Result<StoredDocument, StoreError> {
        Ok(StoredDocument {
            body: serde_json::from_str(&self.body).map_err(|e| StoreError::Unexpected(e.into()))?,
            id: self.id,
            etag: self.etag,
        })
    }
}

impl StoredDocument {
    /// The body as JSON text, for the text operations of a store keeping values.
    pub fn into_text(self) -> Result<TextDocument, StoreError> {
        Ok(TextDocument {
            body: serde_json::to_string(&self.body)
                .map_err(|e| StoreError::Unexpected(e.into()))?,
            id: self.id,
            etag: self.etag,
        })
    }
}

/// A document to write as JSON text with its head (see
/// [`DocumentStore::upsert_many_text_with_heads`]).
#[derive(Debug, Clone)]
pub struct HeadedText {
    pub id: String,
    pub body: String,
    /// The object of the head fields the body holds (absent and null ones
    /// left out), as [`DocumentStore::read_many_fields`] would answer it.
    pub head: String,
}

/// A filter on a top-level field of the documents. Field names come from code,
/// never from callers; values are always bound as parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: &'static str,
    pub op: FilterOp,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Gte,
    Lte,
}

impl Filter {
    pub fn eq(field: &'static str, value: impl Into<Value>) -> Self {
        Filter {
            field,
            op: FilterOp::Eq,
            value: value.into(),
        }
    }
    pub fn gte(field: &'static str, value: impl Into<Value>) -> Self {
        Filter {
            field,
            op: FilterOp::Gte,
            value: value.into(),
        }
    }
    pub fn lte(field: &'static str, value: impl Into<Value>) -> Self {
        Filter {
            field,
            op: FilterOp::Lte,
            value: value.into(),
        }
    }
}

/// Documents of one partition matching every filter, ordered by `order_by`
/// (then by id, so the order is total).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub filters: Vec<Filter>,
    pub order_by: &'static str,
    pub descending: bool,
}

/// One page of a query; `continuation` resumes after its last document.
#[derive(Debug, Clone)]
pub struct QueryPage {
    pub documents: Vec<StoredDocument>,
    pub continuation: Option<String>,
}

/// Whether a field name is safe to place in query text.
pub fn is_safe_field(field: &str) -> bool {
    !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Refuses a field list for [`DocumentStore::read_many_fields`] that holds
/// a name [`is_safe_field`] does not pass.
pub fn check_fields(fields: &[&str]) -> Result<(), StoreError> {
    match fields.iter().find(|f| !is_safe_field(f)) {
        Some(bad) => Err(StoreError::InvalidQuery(format!(
            "field `{bad}` cannot be read"
        ))),
        None => Ok(()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("document not found")]
    NotFound,
    #[error("a document with this id already exists")]
    AlreadyExists,
    /// The document changed since it was read (the ETag no longer matches).
    #[error("the document was changed by another writer")]
    PreconditionFailed,
    /// The store cannot be reached or refused service; retrying later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A continuation token this store did not issue, or a malformed query.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Guarantees every implementation gives:
/// - a write is durable when its future resolves `Ok`;
/// - operations on one (collection, tenant) never see another tenant's documents;
/// - `create` fails with `AlreadyExists` rather than overwrite;
/// - `replace` with a stale ETag fails with `PreconditionFailed` and writes nothing;
/// - `NotFound` only when the document does not exist in that partition.
#[async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    async fn create(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        body: Value,
    ) -> Result<ETag, StoreError>;

    async fn read(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<StoredDocument>, StoreError>;

    /// Replaces the document only if its current ETag is `if_match`.
    async fn replace(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        body: Value,
        if_match: &ETag,
    ) -> Result<ETag, StoreError>;

    /// Creates or overwrites unconditionally; for documents with a single writer.
    async fn upsert(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        body: Value,
    ) -> Result<ETag, StoreError>;

    /// Reads several documents of one partition at once; missing ones are
    /// simply absent from the answer (in no particular order).
    async fn read_many(
        &self,
        collection: Collection,
        tenant: TenantId,
        ids: &[String],
    ) -> Result<Vec<StoredDocument>, StoreError>;

    /// Creates or overwrites several documents of one partition. Each write is
    /// durable when the call returns `Ok`; on `Err` some may have been written
    /// (callers write idempotent documents, so a retry is safe).
    async fn upsert_many(
        &self,
        collection: Collection,
        tenant: TenantId,
        documents: Vec<(String, Value)>,
    ) -> Result<(), StoreError>;

    /// [`read_many`](Self::read_many) answering with the bodies' JSON text, so
    /// a caller can parse them straight into its own types. Hot paths (the
    /// per-record state of a sync) use this; a store that keeps text
    /// overrides it and skips building a [`Value`] tree per document.
    async fn read_many_text(
        &self,
        collection: Collection,
        tenant: TenantId,
        ids: &[String],
    ) -> Result<Vec<TextDocument>, StoreError> {
        self.read_many(collection, tenant, ids)
            .await?
            .into_iter()
            .map(StoredDocument::into_text)
            .collect()
    }

    /// Only the top-level `fields` of several documents of one partition, each
    /// as the JSON text of an object holding those of them it has (and no
    /// others); missing documents are absent. Unchanged detection reads
    /// record states this way: a state's hashes, without its snapshot. A
    /// store that can project overrides it (Cosmos DB: one query instead of
    /// a point read per document; SQLite: the fields extracted in place).
    /// Every field must pass [`is_safe_field`].
    async fn read_many_fields(
        &self,
        collection: Collection,
        tenant: TenantId,
        ids: &[String],
        fields: &[&str],
    ) -> Result<Vec<TextDocument>, StoreError> {
        check_fields(fields)?;
        self.read_many(collection, tenant, ids)
            .await?
            .into_iter()
            .map(|document| {
                let projected: serde_json::Map<String, Value> = fields
                    .iter()
                    .filter_map(|f| document.body.get(*f).map(|v| ((*f).to_owned(), v.clone())))
                    .collect();
                Ok(TextDocument {
                    body: Value::Object(projected).to_string(),
                    id: document.id,
                    etag: document.etag,
                })
            })
            .collect()
    }

    /// [`read`](Self::read) answering with the body's JSON text.
    async fn read_text(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<TextDocument>, StoreError> {
        self.read(collection, tenant, id)
            .await?
            .map(StoredDocument::into_text)
            .transpose()
    }

    /// [`upsert_many`](Self::upsert_many) taking (id, JSON text) pairs, each
    /// an object already carrying its `id` and `tenantId`.
    async fn upsert_many_text(
        &self,
        collection: Collection,
        tenant: TenantId,
        documents: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        let documents = documents
            .into_iter()
            .map(|(id, text)| {
                let body =
                    serde_json::from_str(&text).map_err(|e| StoreError::Unexpected(e.into()))?;
                Ok((id, body))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.upsert_many(collection, tenant, documents).await
    }

    /// [`upsert_many_text`](Self::upsert_many_text), each document with its
    /// head: what [`read_many_fields`](Self::read_many_fields) answers for
    /// `head_fields` of it. A store that keeps the head beside the document
    /// answers a read of exactly those fields from it, without reading the
    /// document's JSON (SQLite: the text parsed for each state of a re-sync
    /// was most of its read); others drop it. Any other write of the
    /// document drops its head, so a head never outlives its document's
    /// version. Every field must pass [`is_safe_field`].
    async fn upsert_many_text_with_heads(
        &self,
        collection: Collection,
        tenant: TenantId,
        documents: Vec<HeadedText>,
        head_fields: &[&str],
    ) -> Result<(), StoreError> {
        check_fields(head_fields)?;
        let documents = documents.into_iter().map(|d| (d.id, d.body)).collect();
        self.upsert_many_text(collection, tenant, documents).await
    }

    /// Deletes, optionally only if the ETag still matches. Missing is `NotFound`.
    async fn delete(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        if_match: Option<&ETag>,
    ) -> Result<(), StoreError>;

    /// One page of at most `max_items` documents of `tenant`'s partition.
    async fn query(
        &self,
        collection: Collection,
        tenant: TenantId,
        query: &Query,
        max_items: usize,
        continuation: Option<&str>,
    ) -> Result<QueryPage, StoreError>;

    /// Cheap round trip proving the store answers; used by `/ready`.
    async fn health(&self) -> Result<(), StoreError>;
}
