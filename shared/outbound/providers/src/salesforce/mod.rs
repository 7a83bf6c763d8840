//! Salesforce (REST API): SOQL over a `SystemModstamp` window through
//! `queryAll` (so deleted rows come back with `IsDeleted = true`), paged with
//! `nextRecordsUrl`; pushes are PATCH by id, conditional with
//! `If-Unmodified-Since`. The instance URL and access token come from the
//! integration's credentials.

mod soql;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::http::ProviderHttp;
use sync_core::{
    domain::{ExternalRecord, Integration},
    ports::provider::{PageRequest, Provider, ProviderError, PushOutcome, PushRequest, RecordPage},
};

const PROVIDER: &str = "salesforce";

pub struct SalesforceProvider {
    http: ProviderHttp,
    api_version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryResponse {
    #[serde(default)]
    done: bool,
    #[serde(default)]
    next_records_url: Option<String>,
    #[serde(default)]
    total_size: Option<u64>,
    records: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RowMeta {
    id: String,
    system_modstamp: String,
    #[serde(default)]
    is_deleted: bool,
}

impl SalesforceProvider {
    pub fn new(http: ProviderHttp, api_version: &str) -> Self {
        SalesforceProvider {
            http,
            api_version: api_version.to_owned(),
        }
    }

    /// The instance URL: the integration's `instanceUrl` (where
    /// integration-manager keeps it), its `settings.salesforce.instanceUrl`,
    /// else the credentials'.
    async fn instance_url(&self, integration: &Integration) -> Result<String, ProviderError> {
        let configured = integration.instance_url.as_deref().or_else(|| {
            integration
                .settings
                .pointer("/salesforce/instanceUrl")
                .and_then(|v| v.as_str())
        });
        if let Some(url) = configured.filter(|u| !u.is_empty()) {
            return Ok(url.trim_end_matches('/').to_owned());
        }
        let credentials = self.http.credentials(integration).await?;
        credentials
            .instance_url
            .map(|u| u.trim_end_matches('/').to_owned())
            .ok_or_else(|| {
                ProviderError::Unsupported(format!(
                    "integration {} has no instanceUrl (integration-manager keeps it on the integration)",
                    integration.id
                ))
            })
    }
}

/// `2026-01-01T00:00:00.000+0000`, Salesforce's datetime format.
/// One answer of `query`/`queryAll` as a page of records (public for the
/// fuzz target: this is where bytes from the provider are first read).
pub fn parse_query_page(entity_type: &str, body: &[u8]) -> Result<RecordPage, ProviderError> {
    let page: QueryResponse = serde_json::from_slice(body).map_err(|e| {
        ProviderError::Unexpected(anyhow::anyhow!(
            "Salesforce sent an unreadable query answer: {e}"
        ))
    })?;
    let mut records = Vec::with_capacity(page.records.len());
    for raw in page.records {
        let meta: RowMeta = serde_json::from_str(raw.get()).map_err(|e| {
            ProviderError::Unexpected(anyhow::anyhow!(
                "a Salesforce row lacks Id or SystemModstamp: {e}"
            ))
        })?;
        records.push(ExternalRecord {
            entity_type: entity_type.to_owned(),
            external_id: meta.id,
            modified_at: parse_modstamp(&meta.system_modstamp)?,
            deleted: meta.is_deleted,
            raw,
        });
    }
    let next_cursor = if page.done {
        None
    } else {
        page.next_records_url
    };
    Ok(RecordPage {
        records,
        next_cursor,
        total: page.total_size,
    })
}

fn parse_modstamp(text: &str) -> Result<DateTime<Utc>, ProviderError> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ProviderError::Unexpected(anyhow::anyhow!(
                "Salesforce sent an unreadable SystemModstamp `{text}`"
            ))
        })
}

#[async_trait]
impl Provider for SalesforceProvider {
    fn waiting(&self, integration: &Integration) -> Option<String> {
        self.http.waiting(integration.tenant_id, PROVIDER)
    }

    async fn fetch_page(
        &self,
        integration: &Integration,
        request: PageRequest,
    ) -> Result<RecordPage, ProviderError> {
        let instance = self.instance_url(integration).await?;
        let path = match &request.cursor {
            // Only follow continuation paths of this API, never another host.
            Some(next) if next.starts_with("/services/data/") => next.clone(),
            Some(other) => {
                return Err(ProviderError::Unsupported(format!(
                    "unexpected Salesforce cursor `{other}`"
                )));
            }
            None => {
                let query =
                    soql::changed_since(integration, &request.entity_type, request.modified_since)?;
                let encoded: String =
                    url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
                format!("/services/data/{}/queryAll?q={encoded}", self.api_version)
            }
        };
        let url = format!("{instance}{path}");
        let batch = request.page_size.clamp(200, 2000);
        let (_, body) = self
            .http
            .send(PROVIDER, integration, |client, credentials| {
                client
                    .get(&url)
                    .bearer_auth(credentials.bearer())
                    .header("Sforce-Query-Options", format!("batchSize={batch}"))
            })
            .await?;
        parse_query_page(&request.entity_type, &body)
    }

    async fn push(
        &self,
        integration: &Integration,
        request: PushRequest,
    ) -> Result<PushOutcome, ProviderError> {
        soql::check_identifier(&request.entity_type)?;
        if !request
            .external_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
        {
            return Err(ProviderError::NotFound(request.external_id));
        }
        let instance = self.instance_url(integration).await?;
        let record_url = format!(
            "{instance}/services/data/{}/sobjects/{}/{}",
            self.api_version, request.entity_type, request.external_id
        );
        let body = serde_json::Value::Object(request.fields.clone());
        let unmodified_since = request
            .if_unmodified_since
            .map(|t| httpdate::fmt_http_date(std::time::SystemTime::from(t)));
        self.http
            .send(PROVIDER, integration, |client, credentials| {
                let mut patch = client
                    .patch(&record_url)
                    .bearer_auth(credentials.bearer())
                    .json(&body);
                if let Some(since) = &unmodified_since {
                    patch = patch.header(reqwest::header::IF_UNMODIFIED_SINCE, since);
                }
                patch
            })
            .await?;
        // The PATCH answers 204 without a body: read back the new stamp.
        let stamp_url = format!("{record_url}?fields=SystemModstamp");
        let (_, body) = self
            .http
            .send(PROVIDER, integration, |client, credentials| {
                client.get(&stamp_url).bearer_auth(credentials.bearer())
            })
            .await?;
        let stamp: RowStamp = serde_json::from_slice(&body).map_err(|e| {
            ProviderError::Unexpected(anyhow::anyhow!("Salesforce sent an unreadable record: {e}"))
        })?;
        Ok(PushOutcome {
            modified_at: parse_modstamp(&stamp.system_modstamp)?,
        })
    }

    async fn get_record(
        &self,
        integration: &Integration,
        entity_type: &str,
        external_id: &str,
    ) -> Result<Option<ExternalRecord>, ProviderError> {
        if !external_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        // The same fields as the SOQL walk, so both reads hash alike.
        let fields = soql::selected_fields(integration, entity_type)?.join(",");
        let instance = self.instance_url(integration).await?;
        let url = format!(
            "{instance}/services/data/{}/sobjects/{entity_type}/{external_id}?fields={fields}",
            self.api_version
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
            ProviderError::Unexpected(anyhow::anyhow!("Salesforce sent an unreadable record: {e}"))
        })?;
        let meta: RowMeta = serde_json::from_str(raw.get()).map_err(|e| {
            ProviderError::Unexpected(anyhow::anyhow!(
                "a Salesforce record lacks Id or SystemModstamp: {e}"
            ))
        })?;
        Ok(Some(ExternalRecord {
            entity_type: entity_type.to_owned(),
            external_id: meta.id,
            modified_at: parse_modstamp(&meta.system_modstamp)?,
            deleted: meta.is_deleted,
            raw,
        }))
    }

    /// The record's id, its deletion flag and the API's own metadata.
    fn owned_fields(&self) -> &'static [&'static str] {
        &["Id", "IsDeleted", "attributes"]
    }

    fn volatile_fields(&self) -> &'static [&'static str] {
        &[
            "attributes",
            "SystemModstamp",
            "LastModifiedDate",
            "LastModifiedById",
            "LastViewedDate",
            "LastReferencedDate",
        ]
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RowStamp {
    system_modstamp: String,
}
