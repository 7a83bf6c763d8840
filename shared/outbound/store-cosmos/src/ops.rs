//! The store port over Cosmos DB items and parameterised queries.

use async_trait::async_trait;
use azure_data_cosmos::{
    FeedScope, Query as CosmosQuery,
    options::{ItemWriteOptions, MaxItemCountHint, Precondition, QueryOptions},
};
use futures::StreamExt;
use serde_json::Value;
use std::num::NonZeroU32;

use super::{
    CosmosStore,
    errors::to_store_error,
    ledger::{LEDGER, size_of_json},
};
use sync_core::{
    domain::TenantId,
    ports::store::{
        Collection, DocumentStore, ETag, FilterOp, Query, QueryPage, StoreError, StoredDocument,
        TextDocument, check_fields, is_safe_field,
    },
};

fn etag_of(headers: &azure_data_cosmos::models::ResponseHeaders) -> Result<ETag, StoreError> {
    headers.etag().map(|e| ETag(e.to_string())).ok_or_else(|| {
        StoreError::Unexpected(anyhow::anyhow!("Cosmos DB answered without an ETag"))
    })
}

fn if_match(etag: &ETag) -> ItemWriteOptions {
    ItemWriteOptions::default().with_precondition(Precondition::if_match(etag.0.clone()))
}

/// Cosmos DB requires the partition key inside the document.
fn with_partition(mut body: Value, id: &str, tenant: TenantId) -> Value {
    if let Value::Object(map) = &mut body {
        map.insert("id".into(), Value::String(id.to_owned()));
        map.insert("tenantId".into(), Value::String(tenant.to_string()));
    }
    body
}

/// Cosmos DB's system properties are not part of the document.
fn without_system_fields(mut body: Value) -> (Value, Option<String>) {
    let mut etag = None;
    if let Value::Object(map) = &mut body {
        etag = map
            .remove("_etag")
            .and_then(|v| v.as_str().map(str::to_owned));
        for key in ["_rid", "_self", "_ts", "_attachments", "_lsn"] {
            map.remove(key);
        }
    }
    (body, etag)
}

#[async_trait]
impl DocumentStore for CosmosStore {
    async fn create(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        body: Value,
    ) -> Result<ETag, StoreError> {
        LEDGER.write(1, size_of_json(&body));
        let response = self
            .container(collection)
            .create_item(
                tenant.to_string(),
                id,
                with_partition(body, id, tenant),
                None,
            )
            .await
            .map_err(to_store_error)?;
        etag_of(response.headers())
    }

    async fn read(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<StoredDocument>, StoreError> {
        let response = match self
            .container(collection)
            .read_item(tenant.to_string(), id, None)
            .await
        {
            Ok(response) => response,
            Err(e) if e.status().is_not_found() => {
                LEDGER.point_read(None);
                return Ok(None);
            }
            Err(e) => return Err(to_store_error(e)),
        };
        let etag = etag_of(response.headers())?;
        let body: Value = response.into_model().map_err(to_store_error)?;
        LEDGER.point_read(Some(&body));
        let (body, _) = without_system_fields(body);
        Ok(Some(StoredDocument {
            id: id.to_owned(),
            etag,
            body,
        }))
    }

    async fn replace(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        body: Value,
        expected: &ETag,
    ) -> Result<ETag, StoreError> {
        LEDGER.write(1, size_of_json(&body));
        let response = self
            .container(collection)
            .replace_item(
                tenant.to_string(),
                id,
                with_partition(body, id, tenant),
                Some(if_match(expected)),
            )
            .await
            .map_err(to_store_error)?;
        etag_of(response.headers())
    }

    async fn upsert(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        body: Value,
    ) -> Result<ETag, StoreError> {
        LEDGER.write(1, size_of_json(&body));
        let response = self
            .container(collection)
            .upsert_item(
                tenant.to_string(),
                id,
                with_partition(body, id, tenant),
                None,
            )
            .await
            .map_err(to_store_error)?;
        etag_of(response.headers())
    }

    async fn read_many(
        &self,
        collection: Collection,
        tenant: TenantId,
        ids: &[String],
    ) -> Result<Vec<StoredDocument>, StoreError> {
        // Collected first: a lazy iterator of borrowing futures trips async_trait's bounds.
        let reads: Vec<_> = ids
            .iter()
            .map(|id| self.read(collection, tenant, id))
            .collect();
        // Point reads are the cheapest Cosmos DB operation (1 RU each); run a
        // bounded number at once.
        let results: Vec<Result<Option<StoredDocument>, StoreError>> = futures::stream::iter(reads)
            .buffer_unordered(CONCURRENT_REQUESTS)
            .collect()
            .await;
        results.into_iter().filter_map(Result::transpose).collect()
    }

    /// One single-partition query per call (paged by the server), not a
    /// point read per document: the unchanged detection of a sync page costs
    /// a request, not a thousand.
    async fn read_many_fields(
        &self,
        collection: Collection,
        tenant: TenantId,
        ids: &[String],
        fields: &[&str],
    ) -> Result<Vec<TextDocument>, StoreError> {
        check_fields(fields)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let projection = ["id", "_etag"]
            .into_iter()
            .chain(fields.iter().copied().filter(|f| *f != "id"))
            .map(|f| format!("c.{f}"))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "SELECT {projection} FROM c WHERE c.tenantId = @tenantId AND ARRAY_CONTAINS(@ids, c.id)"
        );
        let statement = CosmosQuery::from(text)
            .with_parameter("@tenantId", tenant.to_string())
            .and_then(|q| q.with_parameter("@ids", ids))
            .map_err(|e| StoreError::InvalidQuery(e.to_string()))?;
        let mut pages = self
            .container(collection)
            .query_items::<Value>(statement, FeedScope::partition(tenant.to_string()), None)
            .await
            .map_err(to_store_error)?
            .into_pages();
        let wanted_id = fields.contains(&"id");
        let mut found = Vec::with_capacity(ids.len());
        while let Some(page) = pages.next().await {
            let items = page.map_err(to_store_error)?.into_items();
            LEDGER.query_page(&items);
            for body in items {
                let (mut body, etag) = without_system_fields(body);
                let id = body["id"].as_str().unwrap_or_default().to_owned();
                if !wanted_id && let Value::Object(map) = &mut body {
                    map.remove("id");
                }
                found.push(TextDocument {
                    id,
                    etag: ETag(etag.unwrap_or_default()),
                    body: body.to_string(),
                });
            }
        }
        Ok(found)
    }

    /// One upsert per document, a bounded number at once. (Transactional
    /// batches would carry 100 documents a request, but the Cosmos DB
    /// emulator this is tested against refuses the SDK's batch requests, so
    /// that path could not be verified here; see BENCHMARKS.md.)
    async fn upsert_many(
        &self,
        collection: Collection,
        tenant: TenantId,
        documents: Vec<(String, Value)>,
    ) -> Result<(), StoreError> {
        let container = self.container(collection);
        let writes = documents.into_iter().map(|(id, body)| async move {
            LEDGER.write(1, size_of_json(&body));
            container
                .upsert_item(
                    tenant.to_string(),
                    &id,
                    with_partition(body, &id, tenant),
                    None,
                )
                .await
                .map(|_| ())
                .map_err(to_store_error)
        });
        let results: Vec<Result<(), StoreError>> = futures::stream::iter(writes)
            .buffer_unordered(CONCURRENT_REQUESTS)
            .collect()
            .await;
        results.into_iter().collect()
    }

    async fn delete(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        expected: Option<&ETag>,
    ) -> Result<(), StoreError> {
        LEDGER.write(1, 0);
        self.container(collection)
            .delete_item(tenant.to_string(), id, expected.map(if_match))
            .await
            .map_err(to_store_error)?;
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
        let statement = build_query(tenant, query)?;
        let page_size = NonZeroU32::new(max_items.clamp(1, 1000) as u32).unwrap_or(NonZeroU32::MIN);
        let mut options =
            QueryOptions::default().with_max_item_count(MaxItemCountHint::Limit(page_size));
        if let Some(token) = continuation {
            options = options.with_continuation_token(parse_continuation(token)?);
        }
        let pages = self
            .container(collection)
            .query_items::<Value>(
                statement,
                FeedScope::partition(tenant.to_string()),
                Some(options),
            )
            .await
            .map_err(to_store_error)?;
        let mut pages = pages.into_pages();
        let page = match pages.next().await {
            Some(page) => page.map_err(to_store_error)?,
            None => {
                return Ok(QueryPage {
                    documents: Vec::new(),
                    continuation: None,
                });
            }
        };
        // A single-partition query is drained when the server sends no continuation.
        let more = page.headers().continuation().is_some_and(|c| !c.is_empty());
        let items = page.into_items();
        LEDGER.query_page(&items);
        let documents = items
            .into_iter()
            .map(|body| {
                let (body, etag) = without_system_fields(body);
                let id = body["id"].as_str().unwrap_or_default().to_owned();
                StoredDocument {
                    id,
                    etag: ETag(etag.unwrap_or_default()),
                    body,
                }
            })
            .collect();
        let continuation = if more {
            next_continuation(&pages)?
        } else {
            None
        };
        Ok(QueryPage {
            documents,
            continuation,
        })
    }

    async fn health(&self) -> Result<(), StoreError> {
        // A point read of a document that never exists: cheap, and it proves the
        // account, the key and the container all answer.
        let probe = TenantId::nil().to_string();
        match self
            .container(Collection::SyncTasks)
            .read_item(probe, "health-probe", None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status().is_not_found() => Ok(()),
            Err(e) => Err(match to_store_error(e) {
                StoreError::Unavailable(why) => StoreError::Unavailable(why),
                other => StoreError::Unavailable(other.to_string()),
            }),
        }
    }
}

/// Field names come from code and are checked; every value is a parameter. The
/// tenant is filtered in the text as well as by the partition scope, so a query
/// can never read across tenants even if the scope were lost.
fn build_query(tenant: TenantId, query: &Query) -> Result<CosmosQuery, StoreError> {
    let fields = query
        .filters
        .iter()
        .map(|f| f.field)
        .chain([query.order_by]);
    if let Some(bad) = fields.clone().find(|f| !is_safe_field(f)) {
        return Err(StoreError::InvalidQuery(format!(
            "field `{bad}` cannot be queried"
        )));
    }
    let mut text = String::from("SELECT * FROM c WHERE c.tenantId = @tenantId");
    for (i, filter) in query.filters.iter().enumerate() {
        let op = match filter.op {
            FilterOp::Eq => "=",
            FilterOp::Gte => ">=",
            FilterOp::Lte => "<=",
        };
        text.push_str(&format!(" AND c.{} {op} @p{i}", filter.field));
    }
    let direction = if query.descending { "DESC" } else { "ASC" };
    text.push_str(&format!(" ORDER BY c.{} {direction}", query.order_by));
    let mut statement = CosmosQuery::from(text)
        .with_parameter("@tenantId", tenant.to_string())
        .map_err(|e| StoreError::InvalidQuery(e.to_string()))?;
    for (i, filter) in query.filters.iter().enumerate() {
        statement = statement
            .with_parameter(format!("@p{i}"), &filter.value)
            .map_err(|e| StoreError::InvalidQuery(e.to_string()))?;
    }
    Ok(statement)
}

const CONTINUATION_PREFIX: &str = "cosmos:";

/// Requests in flight for one batch operation.
const CONCURRENT_REQUESTS: usize = 16;

fn parse_continuation(
    token: &str,
) -> Result<azure_data_cosmos::feed::ContinuationToken, StoreError> {
    token
        .strip_prefix(CONTINUATION_PREFIX)
        .filter(|t| !t.is_empty())
        .map(|t| azure_data_cosmos::feed::ContinuationToken::from_string(t.to_owned()))
        .ok_or_else(|| StoreError::InvalidQuery("the continuation token is not valid".into()))
}

fn next_continuation<T: Send + serde::de::DeserializeOwned + 'static>(
    pages: &azure_data_cosmos::feed::QueryPageIterator<T>,
) -> Result<Option<String>, StoreError> {
    let token = pages.to_continuation_token().map_err(to_store_error)?;
    let token = token.as_str();
    Ok((!token.is_empty()).then(|| format!("{CONTINUATION_PREFIX}{token}")))
}
