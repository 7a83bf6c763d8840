//! integration-manager's own adapters as a provider: `POST
//! /api/v1/integrations/{id}/fetch` with limit/offset paging. The fallback for
//! providers this service has no native adapter for. integration-manager has
//! no push route, so through it nothing can be written: outbound sync of such
//! an integration is refused before anything is read. Its fetch offers no
//! change window and no deletions, so every run walks everything (change
//! detection keeps unchanged records quiet), and its adapters may ignore
//! `offset` (the engine stops a run that is handed a page it already read).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, value::RawValue};

use crate::{IntegrationManager, NeighbourError};

use sync_core::{
    domain::{ExternalRecord, Integration},
    ports::provider::{PageRequest, Provider, ProviderError, PushOutcome, PushRequest, RecordPage},
};

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
    manager: IntegrationManager,
}

impl IntegrationManagerProxy {
    pub fn new(manager: IntegrationManager) -> Arc<Self> {
        Arc::new(IntegrationManagerProxy { manager })
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
        .map_or_else(sync_core::domain::time::now, |t| t.with_timezone(&Utc));
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
        let rows = self
            .manager
            .fetch(
                integration,
                &request.entity_type,
                request.filters.as_ref(),
                request.page_size,
                offset,
            )
            .await
            .map_err(|e| match e {
                e @ NeighbourError::Unavailable { .. } => ProviderError::Transient(e.to_string()),
                NeighbourError::NotFound { what, .. } => ProviderError::NotFound(what),
                e => ProviderError::Unexpected(anyhow::anyhow!(e)),
            })?;
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

    fn can_push(&self) -> bool {
        false
    }

    fn has_change_window(&self) -> bool {
        false
    }

    async fn push(
        &self,
        _integration: &Integration,
        _request: PushRequest,
    ) -> Result<PushOutcome, ProviderError> {
        Err(ProviderError::Unsupported(
            "integration-manager has no push route: this integration cannot be written to".into(),
        ))
    }

    fn volatile_fields(&self) -> &'static [&'static str] {
        MODIFIED_FIELDS
    }
}
