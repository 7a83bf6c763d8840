//! HubSpot (CRM v3). Changes: the objects search, filtered and sorted on
//! `hs_lastmodifieddate` (ascending), paged with `after`. A search answers at
//! most `search_result_cap` results, so before reaching the cap the adapter
//! starts a new search from the last timestamp it saw, skipping the ids it
//! already returned at exactly that timestamp. Deletions: archived objects.
//! Pushes: PATCH of properties; HubSpot has no conditional write, so a push with
//! `if_unmodified_since` reads the object first (a narrow race remains).

mod token;

pub use token::PageToken;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json, value::RawValue};

use super::http::ProviderHttp;
use sync_core::{
    domain::{ExternalRecord, Integration},
    ports::provider::{PageRequest, Provider, ProviderError, PushOutcome, PushRequest, RecordPage},
};
use token::Phase;

const PROVIDER: &str = "hubspot";
/// HubSpot's largest page for search and list calls.
const MAX_PAGE: usize = 100;

pub struct HubSpotProvider {
    http: ProviderHttp,
    base_url: String,
    result_cap: u64,
}

#[derive(Deserialize)]
struct SearchAnswer {
    results: Vec<Box<RawValue>>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<NextPage>,
}

#[derive(Deserialize)]
struct NextPage {
    after: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectMeta {
    id: String,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    archived_at: Option<DateTime<Utc>>,
    #[serde(default)]
    properties: serde_json::Map<String, Value>,
}

impl ObjectMeta {
    fn modified_at(&self) -> Option<DateTime<Utc>> {
        let stamp = self
            .properties
            .get("hs_lastmodifieddate")
            .and_then(Value::as_str);
        stamp.and_then(parse_stamp).or(self.updated_at)
    }
}

/// HubSpot sends timestamps as ISO 8601 or as epoch milliseconds.
/// One answer of the search endpoint: its records and the `after` of the
/// next page (public for the fuzz target: bytes from the provider).
pub fn parse_search_answer(
    object: &str,
    body: &[u8],
) -> Result<(Vec<ExternalRecord>, Option<String>), ProviderError> {
    let answer: SearchAnswer = serde_json::from_slice(body).map_err(|e| {
        ProviderError::Unexpected(anyhow::anyhow!(
            "HubSpot sent an unreadable search answer: {e}"
        ))
    })?;
    let mut records = Vec::with_capacity(answer.results.len());
    for raw in answer.results {
        let meta: ObjectMeta = serde_json::from_str(raw.get()).map_err(|e| {
            ProviderError::Unexpected(anyhow::anyhow!("a HubSpot object lacks an id: {e}"))
        })?;
        let modified_at = meta.modified_at().ok_or_else(|| {
            ProviderError::Unexpected(anyhow::anyhow!(
                "HubSpot object {} has no modification time",
                meta.id
            ))
        })?;
        records.push(ExternalRecord {
            entity_type: object.to_owned(),
            external_id: meta.id,
            modified_at,
            deleted: false,
            raw,
        });
    }
    let next = answer.paging.and_then(|p| p.next).map(|n| n.after);
    Ok((records, next))
}

fn parse_stamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            text.parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_millis)
        })
}

fn check_object(name: &str) -> Result<(), ProviderError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ProviderError::Unsupported(format!(
            "`{name}` is not a HubSpot object type"
        )))
    }
}

impl HubSpotProvider {
    pub fn new(http: ProviderHttp, base_url: &str, result_cap: u64) -> Self {
        HubSpotProvider {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            result_cap: result_cap.max(2),
        }
    }

    fn base(&self, integration: &Integration) -> String {
        integration
            .settings
            .pointer("/hubspot/baseUrl")
            .and_then(Value::as_str)
            .map_or_else(
                || self.base_url.clone(),
                |u| u.trim_end_matches('/').to_owned(),
            )
    }

    fn properties(integration: &Integration, object: &str) -> Vec<String> {
        integration
            .settings
            .pointer(&format!("/hubspot/properties/{object}"))
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    async fn search(
        &self,
        integration: &Integration,
        request: &PageRequest,
        token: PageToken,
    ) -> Result<RecordPage, ProviderError> {
        let object = &request.entity_type;
        let limit = request.page_size.clamp(1, MAX_PAGE);
        let mut body = json!({
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "limit": limit,
        });
        if let Some(since) = token.since_ms {
            body["filterGroups"] = json!([{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": since.to_string()}]}]);
        }
        if let Some(after) = &token.after {
            body["after"] = json!(after);
        }
        let mut properties = Self::properties(integration, object);
        if !properties.is_empty() {
            properties.push("hs_lastmodifieddate".into());
            body["properties"] = json!(properties);
        }
        let url = format!("{}/crm/v3/objects/{object}/search", self.base(integration));
        let (_, answer) = self
            .http
            .send(PROVIDER, integration, |client, credentials| {
                client
                    .post(&url)
                    .bearer_auth(credentials.bearer())
                    .json(&body)
            })
            .await?;
        let (mut records, next) = parse_search_answer(object, &answer)?;
        // Returned by the previous window already.
        records.retain(|r| {
            !(token.skip.contains(&r.external_id)
                && Some(r.modified_at.timestamp_millis()) == token.since_ms)
        });
        let next_token = token.after_search_page(next, &records, limit as u64, self.result_cap);
        Ok(RecordPage {
            records,
            next_cursor: Some(next_token.encode()),
            // HubSpot's `total` counts one search window of several.
            total: None,
        })
    }

    async fn archived(
        &self,
        integration: &Integration,
        request: &PageRequest,
        token: PageToken,
    ) -> Result<RecordPage, ProviderError> {
        let object = &request.entity_type;
        let limit = request.page_size.clamp(1, MAX_PAGE);
        let mut url = format!(
            "{}/crm/v3/objects/{object}?archived=true&limit={limit}",
            self.base(integration)
        );
        if let Some(after) = &token.after {
            let after: String = url::form_urlencoded::byte_serialize(after.as_bytes()).collect();
            url.push_str(&format!("&after={after}"));
        }
        let (_, answer) = self
            .http
            .send(PROVIDER, integration, |client, credentials| {
                client.get(&url).bearer_auth(credentials.bearer())
            })
            .await?;
        let answer: SearchAnswer = serde_json::from_slice(&answer).map_err(|e| {
            ProviderError::Unexpected(anyhow::anyhow!(
                "HubSpot sent an unreadable list answer: {e}"
            ))
        })?;
        let since = token.since_ms.and_then(DateTime::from_timestamp_millis);
        let mut records = Vec::new();
        for raw in answer.results {
            let meta: ObjectMeta = serde_json::from_str(raw.get()).map_err(|e| {
                ProviderError::Unexpected(anyhow::anyhow!(
                    "an archived HubSpot object lacks an id: {e}"
                ))
            })?;
            let Some(archived_at) = meta.archived_at.or_else(|| meta.modified_at()) else {
                continue;
            };
            if since.is_some_and(|s| archived_at < s) {
                continue; // archived before this window: already known
            }
            records.push(ExternalRecord {
                entity_type: object.clone(),
                external_id: meta.id,
                modified_at: archived_at,
                deleted: true,
                raw,
            });
        }
        records
            .sort_by(|a, b| (a.modified_at, &a.external_id).cmp(&(b.modified_at, &b.external_id)));
        let next_cursor = answer.paging.and_then(|p| p.next).map(|n| {
            PageToken {
                phase: Phase::Archived,
                after: Some(n.after),
                ..token
            }
            .encode()
        });
        Ok(RecordPage {
            records,
            next_cursor,
            total: None,
        })
    }
}

#[async_trait]
impl Provider for HubSpotProvider {
    fn waiting(&self, integration: &Integration) -> Option<String> {
        self.http.waiting(integration.tenant_id, PROVIDER)
    }

    async fn fetch_page(
        &self,
        integration: &Integration,
        request: PageRequest,
    ) -> Result<RecordPage, ProviderError> {
        check_object(&request.entity_type)?;
        let token = match &request.cursor {
            Some(text) => PageToken::decode(text)?,
            None => PageToken::start(request.modified_since),
        };
        match token.phase {
            Phase::Search => self.search(integration, &request, token).await,
            Phase::Archived => self.archived(integration, &request, token).await,
        }
    }

    async fn push(
        &self,
        integration: &Integration,
        request: PushRequest,
    ) -> Result<PushOutcome, ProviderError> {
        check_object(&request.entity_type)?;
        if !request.external_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(ProviderError::NotFound(request.external_id));
        }
        let url = format!(
            "{}/crm/v3/objects/{}/{}",
            self.base(integration),
            request.entity_type,
            request.external_id
        );
        if let Some(since) = request.if_unmodified_since {
            let (_, current) = self
                .http
                .send(PROVIDER, integration, |client, credentials| {
                    client.get(&url).bearer_auth(credentials.bearer())
                })
                .await?;
            let meta: ObjectMeta = serde_json::from_slice(&current).map_err(|e| {
                ProviderError::Unexpected(anyhow::anyhow!("HubSpot sent an unreadable object: {e}"))
            })?;
            if meta.modified_at().is_some_and(|m| m > since) {
                return Err(ProviderError::PreconditionFailed);
            }
        }
        let body = json!({"properties": request.fields});
        let (_, answer) = self
            .http
            .send(PROVIDER, integration, |client, credentials| {
                client
                    .patch(&url)
                    .bearer_auth(credentials.bearer())
                    .json(&body)
            })
            .await?;
        let meta: ObjectMeta = serde_json::from_slice(&answer).map_err(|e| {
            ProviderError::Unexpected(anyhow::anyhow!("HubSpot sent an unreadable object: {e}"))
        })?;
        Ok(PushOutcome {
            modified_at: meta
                .modified_at()
                .unwrap_or_else(sync_core::domain::time::now),
        })
    }

    async fn get_record(
        &self,
        integration: &Integration,
        entity_type: &str,
        external_id: &str,
    ) -> Result<Option<ExternalRecord>, ProviderError> {
        check_object(entity_type)?;
        if !external_id.chars().all(|c| c.is_ascii_digit()) {
            return Ok(None);
        }
        let url = format!(
            "{}/crm/v3/objects/{entity_type}/{external_id}",
            self.base(integration)
        );
        let body = match self
            .http
            .send(PROVIDER, integration, |client, credentials| {
                client.get(&url).bearer_auth(credentials.bearer())
            })
            .await
        {
            Ok((_, body)) => body,
            Err(ProviderError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let raw: Box<RawValue> = serde_json::from_slice(&body).map_err(|e| {
            ProviderError::Unexpected(anyhow::anyhow!("HubSpot sent an unreadable object: {e}"))
        })?;
        let meta: ObjectMeta = serde_json::from_str(raw.get()).map_err(|e| {
            ProviderError::Unexpected(anyhow::anyhow!("a HubSpot object lacks an id: {e}"))
        })?;
        let modified_at = meta
            .modified_at()
            .unwrap_or_else(sync_core::domain::time::now);
        Ok(Some(ExternalRecord {
            entity_type: entity_type.to_owned(),
            external_id: meta.id,
            modified_at,
            deleted: false,
            raw,
        }))
    }

    fn fields_of(&self, record: &Value) -> serde_json::Map<String, Value> {
        record
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    fn with_fields(&self, record: &Value, fields: &serde_json::Map<String, Value>) -> Value {
        let mut record = record.clone();
        if let Some(properties) = record.get_mut("properties").and_then(Value::as_object_mut) {
            sync_core::ports::provider::apply_fields(properties, fields);
        }
        record
    }

    /// The object's id (also as the `hs_object_id` property), its archive
    /// flag and creation time.
    fn owned_fields(&self) -> &'static [&'static str] {
        &["id", "hs_object_id", "archived", "createdAt"]
    }

    fn volatile_fields(&self) -> &'static [&'static str] {
        &[
            "updatedAt",
            "properties.hs_lastmodifieddate",
            "properties.lastmodifieddate",
        ]
    }
}
