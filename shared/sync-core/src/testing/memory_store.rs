//! An in-memory [`DocumentStore`], so the core's own tests need no database.
//! It keeps the port's contract (checked by the same suite every adapter
//! runs): partitions by tenant, ETags that change on every write, conditional
//! writes, filtered and ordered queries paged by an opaque continuation.

use std::{
    cmp::Ordering,
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering as Atomic},
    },
};

use async_trait::async_trait;
use serde_json::Value;

use crate::{
    domain::TenantId,
    ports::store::{
        Collection, DocumentStore, ETag, FilterOp, Query, QueryPage, StoreError, StoredDocument,
        is_safe_field,
    },
};

type Key = (Collection, TenantId, String);

#[derive(Default)]
pub struct MemoryStore {
    documents: Mutex<BTreeMap<Key, (ETag, Value)>>,
    next_etag: AtomicU64,
}

impl MemoryStore {
    fn etag(&self) -> ETag {
        ETag(format!(
            "\"{}\"",
            self.next_etag.fetch_add(1, Atomic::Relaxed)
        ))
    }

    fn key(collection: Collection, tenant: TenantId, id: &str) -> Key {
        (collection, tenant, id.to_owned())
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}

#[async_trait]
impl DocumentStore for MemoryStore {
    async fn create(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        body: Value,
    ) -> Result<ETag, StoreError> {
        let mut documents = self.documents.lock().unwrap();
        let key = Self::key(collection, tenant, id);
        if documents.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        let etag = self.etag();
        documents.insert(key, (etag.clone(), body));
        Ok(etag)
    }

    async fn read(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<StoredDocument>, StoreError> {
        let documents = self.documents.lock().unwrap();
        Ok(documents
            .get(&Self::key(collection, tenant, id))
            .map(|(etag, body)| StoredDocument {
                id: id.to_owned(),
                etag: etag.clone(),
                body: body.clone(),
            }))
    }

    async fn replace(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        body: Value,
        if_match: &ETag,
    ) -> Result<ETag, StoreError> {
        let mut documents = self.documents.lock().unwrap();
        let current = documents
            .get_mut(&Self::key(collection, tenant, id))
            .ok_or(StoreError::NotFound)?;
        if &current.0 != if_match {
            return Err(StoreError::PreconditionFailed);
        }
        let etag = self.etag();
        *current = (etag.clone(), body);
        Ok(etag)
    }

    async fn upsert(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        body: Value,
    ) -> Result<ETag, StoreError> {
        let etag = self.etag();
        self.documents
            .lock()
            .unwrap()
            .insert(Self::key(collection, tenant, id), (etag.clone(), body));
        Ok(etag)
    }

    async fn read_many(
        &self,
        collection: Collection,
        tenant: TenantId,
        ids: &[String],
    ) -> Result<Vec<StoredDocument>, StoreError> {
        let mut found = Vec::new();
        for id in ids {
            if let Some(document) = self.read(collection, tenant, id).await? {
                found.push(document);
            }
        }
        Ok(found)
    }

    async fn upsert_many(
        &self,
        collection: Collection,
        tenant: TenantId,
        documents: Vec<(String, Value)>,
    ) -> Result<(), StoreError> {
        for (id, body) in documents {
            self.upsert(collection, tenant, &id, body).await?;
        }
        Ok(())
    }

    async fn delete(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        if_match: Option<&ETag>,
    ) -> Result<(), StoreError> {
        let mut documents = self.documents.lock().unwrap();
        let key = Self::key(collection, tenant, id);
        let current = documents.get(&key).ok_or(StoreError::NotFound)?;
        if if_match.is_some_and(|etag| etag != &current.0) {
            return Err(StoreError::PreconditionFailed);
        }
        documents.remove(&key);
        Ok(())
    }

    async fn query(
        &self,
        collection: Collection,
        tenant: TenantId,
        query: &Query,
        max_items: usize,
        continuation: Option<&str>,
    ) -> Result<QueryPage, StoreError> {
        for field in query
            .filters
            .iter()
            .map(|f| f.field)
            .chain([query.order_by])
        {
            if !is_safe_field(field) {
                return Err(StoreError::InvalidQuery(format!("field `{field}`")));
            }
        }
        let skip = match continuation {
            None => 0,
            Some(token) => token
                .strip_prefix("mem:")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    StoreError::InvalidQuery("the continuation token is not valid".into())
                })?,
        };
        let documents = self.documents.lock().unwrap();
        let mut matching: Vec<StoredDocument> = documents
            .iter()
            .filter(|((c, t, _), _)| *c == collection && *t == tenant)
            .filter(|(_, (_, body))| {
                query.filters.iter().all(|filter| {
                    let value = &body[filter.field];
                    let order = compare(value, &filter.value);
                    match filter.op {
                        FilterOp::Eq => value == &filter.value,
                        FilterOp::Gte => !value.is_null() && order != Ordering::Less,
                        FilterOp::Lte => !value.is_null() && order != Ordering::Greater,
                    }
                })
            })
            .map(|((_, _, id), (etag, body))| StoredDocument {
                id: id.clone(),
                etag: etag.clone(),
                body: body.clone(),
            })
            .collect();
        matching.sort_by(|a, b| {
            let order = compare(&a.body[query.order_by], &b.body[query.order_by])
                .then_with(|| a.id.cmp(&b.id));
            if query.descending {
                order.reverse()
            } else {
                order
            }
        });
        let page: Vec<StoredDocument> = matching
            .iter()
            .skip(skip)
            .take(max_items)
            .cloned()
            .collect();
        let next = skip + page.len();
        Ok(QueryPage {
            continuation: (next < matching.len()).then(|| format!("mem:{next}")),
            documents: page,
        })
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_memory_store_keeps_the_store_contract() {
        crate::testing::store_contract::run_all(&super::MemoryStore::default()).await;
    }
}
