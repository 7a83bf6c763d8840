//! Typed access to the store port: domain documents in, domain documents out,
//! and the optimistic-concurrency retry loop for read-modify-write.

use std::sync::Arc;

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    domain::{
        SyncConflict, SyncExecution, SyncTask, TenantId, Webhook,
        sync_state::{EntityCursor, RecordHead, RecordState},
    },
    ports::store::{Collection, DocumentStore, ETag, HeadedText, Query, StoreError},
};

/// How often a read-modify-write is retried after losing a race before giving up.
const MAX_UPDATE_ATTEMPTS: usize = 16;

/// A domain type stored as one document.
pub trait Document: Serialize + DeserializeOwned + Send + Sync {
    const COLLECTION: Collection;
    /// The type's own JSON already carries `id` and `tenantId` (equal to
    /// [`document_id`](Self::document_id) and [`partition`](Self::partition)),
    /// so it is stored as serialised, without a detour through a `Value`.
    const SELF_ADDRESSED: bool = false;
    /// The fields a hot path reads of many documents at once
    /// ([`Repository::get_fields`]); a store may keep them beside the
    /// document as its head (see [`DocumentStore::upsert_many_text_with_heads`]).
    const HEAD_FIELDS: &'static [&'static str] = &[];
    fn document_id(&self) -> String;
    fn partition(&self) -> TenantId;
    /// This document's object of [`HEAD_FIELDS`](Self::HEAD_FIELDS) as JSON
    /// text, absent and null fields left out; `None` without head fields.
    fn head_text(&self) -> Option<String> {
        None
    }
    /// Appends the document's JSON text (serde's) to `out`; a type on a hot
    /// path may write the same bytes faster.
    fn write_text(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(out, self)
    }
}

/// `Document` for types stored under their own id field, partitioned by `tenant_id`.
macro_rules! documents {
    ($($type:ty => $collection:expr, $id:ident;)*) => {$(
        impl Document for $type {
            const COLLECTION: Collection = $collection;
            fn document_id(&self) -> String {
                self.$id.to_string()
            }
            fn partition(&self) -> TenantId {
                self.tenant_id
            }
        }
    )*};
}

documents! {
    SyncTask => Collection::SyncTasks, task_id;
    SyncExecution => Collection::Executions, execution_id;
    SyncConflict => Collection::Conflicts, conflict_id;
    Webhook => Collection::Webhooks, webhook_id;
    crate::domain::webhook::WebhookDelivery => Collection::Deliveries, delivery_id;
}

/// Per-record state and cursors: serialised with their own `id` and `tenantId`.
macro_rules! self_addressed_documents {
    ($($type:ty => $collection:expr;)*) => {$(
        impl Document for $type {
            const COLLECTION: Collection = $collection;
            const SELF_ADDRESSED: bool = true;
            fn document_id(&self) -> String {
                self.id.clone()
            }
            fn partition(&self) -> TenantId {
                self.tenant_id
            }
        }
    )*};
}

self_addressed_documents! {
    EntityCursor => Collection::SyncState;
}

impl Document for RecordState {
    const COLLECTION: Collection = Collection::SyncState;
    const SELF_ADDRESSED: bool = true;
    const HEAD_FIELDS: &'static [&'static str] = RecordHead::FIELDS;
    fn document_id(&self) -> String {
        self.id.clone()
    }
    fn partition(&self) -> TenantId {
        self.tenant_id
    }
    fn head_text(&self) -> Option<String> {
        Some(self.head_text())
    }
    fn write_text(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        self.write_text(out)
    }
}

/// One page of typed documents.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub continuation: Option<String>,
}

/// A document with the ETag it was read at.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub doc: T,
    pub etag: ETag,
}

#[derive(Clone)]
pub struct Repository {
    store: Arc<dyn DocumentStore>,
}

impl Repository {
    pub fn new(store: Arc<dyn DocumentStore>) -> Self {
        Repository { store }
    }

    pub fn store(&self) -> &Arc<dyn DocumentStore> {
        &self.store
    }

    pub async fn create<T: Document + Clone>(&self, doc: &T) -> Result<Versioned<T>, StoreError> {
        let id = doc.document_id();
        let etag = self
            .store
            .create(T::COLLECTION, doc.partition(), &id, to_body(doc, &id)?)
            .await?;
        Ok(Versioned {
            doc: doc.clone(),
            etag,
        })
    }

    pub async fn get<T: Document>(
        &self,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        let Some(stored) = self.store.read_text(T::COLLECTION, tenant, id).await? else {
            return Ok(None);
        };
        let doc = parse_text(&stored.body)?;
        Ok(Some(Versioned {
            doc,
            etag: stored.etag,
        }))
    }

    /// One page of a tenant's documents matching `query`.
    pub async fn query<T: Document>(
        &self,
        tenant: TenantId,
        query: &Query,
        max_items: usize,
        continuation: Option<&str>,
    ) -> Result<Page<T>, StoreError> {
        let page = self
            .store
            .query(T::COLLECTION, tenant, query, max_items, continuation)
            .await?;
        let items = page
            .documents
            .into_iter()
            .map(|d| parse_document(d.body))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            continuation: page.continuation,
        })
    }

    /// Several documents of one tenant by id; missing ones are left out.
    pub async fn get_many<T: Document>(
        &self,
        tenant: TenantId,
        ids: &[String],
    ) -> Result<Vec<T>, StoreError> {
        self.store
            .read_many_text(T::COLLECTION, tenant, ids)
            .await?
            .iter()
            .map(|d| parse_text(&d.body))
            .collect()
    }

    /// Only `fields` of several documents of one tenant, parsed into `H` (a
    /// partial view of `T`); missing ones are left out.
    pub async fn get_fields<T: Document, H: DeserializeOwned>(
        &self,
        tenant: TenantId,
        ids: &[String],
        fields: &[&str],
    ) -> Result<Vec<H>, StoreError> {
        self.store
            .read_many_fields(T::COLLECTION, tenant, ids, fields)
            .await?
            .iter()
            .map(|d| serde_json::from_str(&d.body).map_err(|e| StoreError::Unexpected(e.into())))
            .collect()
    }

    /// Writes several documents of one tenant (each idempotent).
    pub async fn upsert_many<T: Document>(
        &self,
        tenant: TenantId,
        docs: &[T],
    ) -> Result<(), StoreError> {
        let mut scratch = Vec::new();
        if T::SELF_ADDRESSED && !T::HEAD_FIELDS.is_empty() {
            let headed = docs
                .iter()
                .map(|d| {
                    let head = d.head_text().ok_or_else(|| {
                        StoreError::Unexpected(anyhow::anyhow!(
                            "a {:?} document without its head",
                            T::COLLECTION
                        ))
                    })?;
                    Ok(HeadedText {
                        id: d.document_id(),
                        body: self_addressed_text(d, &mut scratch)?,
                        head,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            return self
                .store
                .upsert_many_text_with_heads(T::COLLECTION, tenant, headed, T::HEAD_FIELDS)
                .await;
        }
        if T::SELF_ADDRESSED {
            let texts = docs
                .iter()
                .map(|d| {
                    Ok::<_, StoreError>((d.document_id(), self_addressed_text(d, &mut scratch)?))
                })
                .collect::<Result<Vec<_>, _>>()?;
            return self
                .store
                .upsert_many_text(T::COLLECTION, tenant, texts)
                .await;
        }
        let bodies = docs
            .iter()
            .map(|d| {
                let id = d.document_id();
                to_body(d, &id).map(|body| (id, body))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.store.upsert_many(T::COLLECTION, tenant, bodies).await
    }

    /// Replaces the document only if it is still at `etag`.
    pub async fn replace<T: Document>(&self, doc: &T, etag: &ETag) -> Result<ETag, StoreError> {
        let id = doc.document_id();
        self.store
            .replace(
                T::COLLECTION,
                doc.partition(),
                &id,
                to_body(doc, &id)?,
                etag,
            )
            .await
    }

    pub async fn upsert<T: Document>(&self, doc: &T) -> Result<ETag, StoreError> {
        let id = doc.document_id();
        self.store
            .upsert(T::COLLECTION, doc.partition(), &id, to_body(doc, &id)?)
            .await
    }

    /// Read-modify-write under optimistic concurrency: `change` is applied to a
    /// fresh read until the conditional write wins (bounded). `change` returns
    /// `false` to leave the document as it is (no write).
    pub async fn update<T, F>(
        &self,
        tenant: TenantId,
        id: &str,
        mut change: F,
    ) -> Result<Versioned<T>, StoreError>
    where
        T: Document,
        F: FnMut(&mut T) -> bool + Send,
    {
        for attempt in 0..MAX_UPDATE_ATTEMPTS {
            if attempt > 0 {
                // Lost a race: wait a random moment before reading again, so
                // contenders spread out instead of colliding in lockstep.
                let micros = rand::random_range(0..=250 * attempt as u64);
                tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
            }
            let Some(mut current) = self.get::<T>(tenant, id).await? else {
                return Err(StoreError::NotFound);
            };
            if !change(&mut current.doc) {
                return Ok(current);
            }
            let body = to_body(&current.doc, id)?;
            match self
                .store
                .replace(T::COLLECTION, tenant, id, body, &current.etag)
                .await
            {
                Ok(etag) => {
                    return Ok(Versioned {
                        doc: current.doc,
                        etag,
                    });
                }
                Err(StoreError::PreconditionFailed) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::PreconditionFailed)
    }
}

/// A stored body as its domain type; a body that does not parse is a bug or a
/// foreign write, reported with its collection.
fn parse_document<T: Document>(body: Value) -> Result<T, StoreError> {
    serde_json::from_value(body).map_err(unparsable::<T>)
}

/// [`parse_document`] from the stored JSON text, without a `Value` in between.
fn parse_text<T: Document>(body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(unparsable::<T>)
}

fn unparsable<T: Document>(e: serde_json::Error) -> StoreError {
    StoreError::Unexpected(anyhow::Error::new(e).context(format!(
        "a stored {} document does not parse",
        T::COLLECTION.key()
    )))
}

/// A self-addressed document's JSON text, as stored: written
/// ([`Document::write_text`]) into `scratch` (reused across a
/// batch, grown once) and copied out at its own length: a state is a few
/// hundred bytes without a snapshot and kilobytes with one, and the 2 KiB
/// buffer each state had before was kept with it until written (allocator
/// work and memory for nothing; measured with the 16 KiB pages, ~9 % of a
/// first sync's CPU for both).
fn self_addressed_text<T: Document>(doc: &T, scratch: &mut Vec<u8>) -> Result<String, StoreError> {
    scratch.clear();
    doc.write_text(scratch)
        .map_err(|e| StoreError::Unexpected(e.into()))?;
    std::str::from_utf8(scratch)
        .map(str::to_owned)
        .map_err(|e| StoreError::Unexpected(e.into()))
}

/// The stored body is the domain JSON plus the `id` and `tenantId` a document
/// store needs for addressing and partitioning.
fn to_body<T: Document>(doc: &T, id: &str) -> Result<Value, StoreError> {
    let mut body = serde_json::to_value(doc).map_err(|e| StoreError::Unexpected(e.into()))?;
    if let Value::Object(map) = &mut body {
        map.insert("id".into(), Value::String(id.to_owned()));
        map.insert(
            "tenantId".into(),
            Value::String(doc.partition().to_string()),
        );
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{domain::Direction, testing::MemoryStore};

    fn repo() -> (Repository, ()) {
        (Repository::new(Arc::new(MemoryStore::default())), ())
    }

    fn task(tenant: TenantId) -> SyncTask {
        SyncTask::new_pending(tenant, "int".into(), Direction::Inbound, None, None, None)
    }

    #[tokio::test]
    async fn self_addressed_documents_carry_their_id_and_partition() {
        let tenant = TenantId::new_v4();
        let cursor = EntityCursor::new(tenant, "int", "contact");
        let body = serde_json::to_value(&cursor).unwrap();
        assert_eq!(body["id"], cursor.document_id());
        assert_eq!(body["tenantId"], tenant.to_string());
        // Written as text, read back as text and as a value alike.
        let (repo, _dir) = repo();
        repo.upsert_many(tenant, std::slice::from_ref(&cursor))
            .await
            .unwrap();
        let by_text = repo
            .get_many::<EntityCursor>(tenant, std::slice::from_ref(&cursor.id))
            .await
            .unwrap();
        assert_eq!(by_text, vec![cursor.clone()]);
        let stored = repo
            .store()
            .read(Collection::SyncState, tenant, &cursor.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.body, body);
    }

    #[tokio::test]
    async fn concurrent_counter_updates_are_never_lost() {
        let (repo, _dir) = repo();
        let task = task(TenantId::new_v4());
        repo.create(&task).await.unwrap();
        let id = task.task_id.to_string();
        let mut handles = Vec::new();
        for _ in 0..8 {
            let (repo, id) = (repo.clone(), id.clone());
            handles.push(tokio::spawn(async move {
                for _ in 0..5 {
                    repo.update::<SyncTask, _>(task.tenant_id, &id, |t| {
                        t.counters.records_processed += 1;
                        true
                    })
                    .await
                    .unwrap();
                }
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
        let stored = repo
            .get::<SyncTask>(task.tenant_id, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.doc.counters.records_processed, 40);
    }

    #[tokio::test]
    async fn a_document_is_invisible_from_another_tenant() {
        let (repo, _dir) = repo();
        let task = task(TenantId::new_v4());
        repo.create(&task).await.unwrap();
        let other = repo
            .get::<SyncTask>(TenantId::new_v4(), &task.task_id.to_string())
            .await
            .unwrap();
        assert!(other.is_none());
    }
}
