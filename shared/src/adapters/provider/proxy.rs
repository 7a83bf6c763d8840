//! The integration-manager proxy: integration-manager's own adapter does the
//! provider call (`POST /api/v1/integrations/{id}/fetch` with limit/offset
//! paging, `POST …/push`). It is the fallback for providers this service has
//! no native adapter for. The API offers no change window and no deletions, so
//! every run walks everything; change detection keeps unchanged records quiet.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::{Value, json, value::RawValue};

use super::http::{CredentialSource, Credentials, ProviderHttp};
use crate::{
    auth::TokenIssuer,
    domain::{ExternalRecord, Integration},
    ports::provider::{PageRequest, Provider, ProviderError, PushOutcome, PushRequest, RecordPage},
};

const PROVIDER: &str = "integration-manager";
const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(300);
const ID_FIELDS: &[&str] = &["id", "Id", "externalId", "external_id"];
const MODIFIED_FIELDS: &[&str] = &[
    "updatedAt",
    "modifiedAt",
    "lastModified",
    "LastModifiedDate",
    "SystemModstamp",
    "hs_lastmodifieddate",
];
const DELETED_FIELDS: &[&str] = &["deleted", "IsDeleted", "archived"];

pub struct IntegrationManagerProxy {
    http: ProviderHttp,
    base_url: String,
}

/// Calls to integration-manager carry a service token for the tenant.
pub struct ServiceTokens(pub TokenIssuer);

#[async_trait]
impl CredentialSource for ServiceTokens {
    async fn get(&self, integration: &Integration) -> Result<Credentials, ProviderError> {
        let token = self.0.mint(
            "integration-sync",
            Some(integration.tenant_id),
            SERVICE_TOKEN_TTL,
        );
        Ok(Credentials {
            access_token: SecretString::from(token),
            instance_url: None,
        })
    }

    async fn refresh(&self, integration: &Integration) -> Result<Credentials, ProviderError> {
        self.get(integration).await
    }
}

impl IntegrationManagerProxy {
    pub fn new(http: ProviderHttp, base_url: &str) -> Arc<Self> {
        Arc::new(IntegrationManagerProxy {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    fn url(&self, integration: &Integration, action: &str) -> Result<String, ProviderError> {
        let mut url =
            reqwest::Url::parse(&self.base_url).map_err(|e| ProviderError::Unexpected(e.into()))?;
        url.path_segments_mut()
            .map_err(|_| {
                ProviderError::Unsupported("integration-manager URL cannot be a base".into())
            })?
            .pop_if_empty()
            .extend(["api", "v1", "integrations", &integration.id, action]);
        Ok(url.to_string())
    }
}

fn field<'v>(record: &'v Value, names: &[&str]) -> Option<&'v Value> {
    names.iter().find_map(|n| record.get(*n))
}

fn to_record(entity_type: &str, value: Value) -> Result<ExternalRecord, ProviderError> {
    let external_id = match field(&value, ID_FIELDS) {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        _ => {
            return Err(ProviderError::Unexpected(anyhow::anyhow!(
                "integration-manager sent a record without an id"
            )));
        }
    };
    let modified_at = field(&value, MODIFIED_FIELDS)
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(crate::domain::time::now, |t| t.with_timezone(&Utc));
    let deleted = field(&value, DELETED_FIELDS)
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let raw = RawValue::from_string(value.to_string())
        .map_err(|e| ProviderError::Unexpected(e.into()))?;
    Ok(ExternalRecord {
        entity_type: entity_type.to_owned(),
        external_id,
        modified_at,
        deleted,
        raw,
    })
}

#[async_trait]
impl Provider for IntegrationManagerProxy {
    async fn fetch_page(
        &self,
        integration: &Integration,
        request: PageRequest,
    ) -> Result<RecordPage, ProviderError> {
        let offset: u64 = match &request.cursor {
            Some(c) => c
                .parse()
                .map_err(|_| ProviderError::Unsupported(format!("invalid proxy cursor `{c}`")))?,
            None => 0,
        };
        let url = self.url(integration, "fetch")?;
        let body = json!({
            "direction": "inbound",
            "entityType": request.entity_type,
            "filters": request.filters.clone().unwrap_or_else(|| json!({})),
            "limit": request.page_size,
            "offset": offset,
        });
        let (_, answer) = self
            .http
            .send(PROVIDER, integration, |client, credentials| {
                client
                    .post(&url)
                    .bearer_auth(credentials.bearer())
                    .header("X-Tenant-ID", integration.tenant_id.to_string())
                    .json(&body)
            })
            .await?;
        let answer: Value = serde_json::from_slice(&answer).map_err(|e| {
            ProviderError::Unexpected(anyhow::anyhow!(
                "integration-manager sent invalid JSON: {e}"
            ))
        })?;
        // An array, or `{ data: [...] }` / `{ records: [...] }`.
        let rows = match answer {
            Value::Array(rows) => rows,
            Value::Object(mut map) => match map.remove("data").or_else(|| map.remove("records")) {
                Some(Value::Array(rows)) => rows,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let full_page = rows.len() >= request.page_size;
        let records = rows
            .into_iter()
            .map(|r| to_record(&request.entity_type, r))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = full_page.then(|| (offset + records.len() as u64).to_string());
        Ok(RecordPage {
            records,
            next_cursor,
        })
    }

    async fn push(
        &self,
        integration: &Integration,
        request: PushRequest,
    ) -> Result<PushOutcome, ProviderError> {
        let url = self.url(integration, "push")?;
        let body = json!({"externalId": request.external_id, "entityType": request.entity_type, "data": request.fields});
        self.http
            .send(PROVIDER, integration, |client, credentials| {
                client
                    .post(&url)
                    .bearer_auth(credentials.bearer())
                    .header("X-Tenant-ID", integration.tenant_id.to_string())
                    .json(&body)
            })
            .await?;
        Ok(PushOutcome {
            modified_at: crate::domain::time::now(),
        })
    }

    fn volatile_fields(&self) -> &'static [&'static str] {
        MODIFIED_FIELDS
    }
}
