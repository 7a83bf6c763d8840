//! integration-manager's own adapters as a provider: `POST
//! /api/v1/integrations/{id}/fetch` with limit/offset paging. The fallback for
//! providers this service has no native adapter for. integration-manager has
//! no push route, so through it nothing can be written: outbound sync of such
//! an integration is refused before anything is read. Its fetch offers no
//! change window and no deletions, so every run walks everything (change
//! detection keeps unchanged records quiet), and its adapters may ignore
//! `offset` (the engine stops a run that is handed a page it already read).
//! Records keep the bytes integration-manager sent: only the id, the
//! modification time and the deletion flag are read out of them.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, value::RawValue};

use crate::{IntegrationManager, NeighbourError};

use sync_core::{
    domain::{ExternalRecord, Integration},
    ports::provider::{PageRequest, Provider, ProviderError, PushOutcome, PushRequest, RecordPage},
};

const MODIFIED_FIELDS: &[&str] = &[
    "updatedAt",
    "modifiedAt",
    "lastModified",
    "LastModifiedDate",
    "SystemModstamp",
    "hs_lastmodifieddate",
];

pub struct IntegrationManagerProxy {
    manager: IntegrationManager,
    /// Records per fetch (`sync_limits.integration_manager_page_size`).
    page_size: usize,
}

impl IntegrationManagerProxy {
    pub fn new(manager: IntegrationManager, page_size: usize) -> Arc<Self> {
        Arc::new(IntegrationManagerProxy { manager, page_size })
    }
}

/// The fields of a record the proxy reads, each left as the JSON text it is
/// (the rest of the record is skipped, never built into a tree). For each
/// meaning the first name present wins, in the order they are listed.
#[derive(Deserialize)]
struct Keys<'a> {
    #[serde(borrow, rename = "id")]
    id: Option<&'a RawValue>,
    #[serde(borrow, rename = "Id")]
    id_pascal: Option<&'a RawValue>,
    #[serde(borrow, rename = "externalId")]
    external_id: Option<&'a RawValue>,
    #[serde(borrow, rename = "external_id")]
    external_id_snake: Option<&'a RawValue>,
    #[serde(borrow, rename = "updatedAt")]
    updated_at: Option<&'a RawValue>,
    #[serde(borrow, rename = "modifiedAt")]
    modified_at: Option<&'a RawValue>,
    #[serde(borrow, rename = "lastModified")]
    last_modified: Option<&'a RawValue>,
    #[serde(borrow, rename = "LastModifiedDate")]
    last_modified_date: Option<&'a RawValue>,
    #[serde(borrow, rename = "SystemModstamp")]
    system_modstamp: Option<&'a RawValue>,
    #[serde(borrow, rename = "hs_lastmodifieddate")]
    hs_lastmodifieddate: Option<&'a RawValue>,
    #[serde(borrow, rename = "deleted")]
    deleted: Option<&'a RawValue>,
    #[serde(borrow, rename = "IsDeleted")]
    is_deleted: Option<&'a RawValue>,
    #[serde(borrow, rename = "archived")]
    archived: Option<&'a RawValue>,
}

fn no_id() -> ProviderError {
    ProviderError::Unexpected(anyhow::anyhow!(
        "integration-manager sent a record without an id"
    ))
}

/// A record as integration-manager sent it: its bytes kept as they are.
fn to_record(entity_type: &str, raw: Box<RawValue>) -> Result<ExternalRecord, ProviderError> {
    let keys: Keys = serde_json::from_str(raw.get()).map_err(|_| no_id())?;
    let id = [
        keys.id,
        keys.id_pascal,
        keys.external_id,
        keys.external_id_snake,
    ]
    .into_iter()
    .flatten()
    .next()
    .ok_or_else(no_id)?;
    let external_id = match serde_json::from_str::<Value>(id.get()) {
        Ok(Value::String(id)) => id,
        Ok(Value::Number(id)) => id.to_string(),
        _ => return Err(no_id()),
    };
    let modified = [
        keys.updated_at,
        keys.modified_at,
        keys.last_modified,
        keys.last_modified_date,
        keys.system_modstamp,
        keys.hs_lastmodifieddate,
    ];
    let modified_at = modified
        .into_iter()
        .flatten()
        .next()
        .and_then(|t| serde_json::from_str::<String>(t.get()).ok())
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map_or_else(sync_core::domain::time::now, |t| t.with_timezone(&Utc));
    let deleted = [keys.deleted, keys.is_deleted, keys.archived]
        .into_iter()
        .flatten()
        .next()
        .is_some_and(|d| d.get() == "true");
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
            // integration-manager's fetch answers records, no count.
            total: None,
        })
    }

    fn page_size(&self, _configured: usize) -> usize {
        self.page_size
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> Result<ExternalRecord, ProviderError> {
        to_record("deals", RawValue::from_string(text.to_owned()).unwrap())
    }

    #[test]
    fn the_first_id_field_present_names_the_record_and_its_bytes_are_kept() {
        let text =
            r#"{"Id":"pascal","id":7,"title":"caf\u00e9","updatedAt":"2026-05-01T10:00:00+02:00"}"#;
        let read = record(text).unwrap();
        assert_eq!(
            read.external_id, "7",
            "`id` comes before `Id`; a number is its text"
        );
        assert_eq!(read.raw.get(), text, "the provider's bytes, untouched");
        assert_eq!(read.modified_at.to_rfc3339(), "2026-05-01T08:00:00+00:00");
        assert!(!read.deleted);
        let read = record(r#"{"external_id":"snake","IsDeleted":true}"#).unwrap();
        assert_eq!(read.external_id, "snake");
        assert!(read.deleted);
    }

    #[test]
    fn a_record_without_a_usable_id_is_refused() {
        for text in [
            r#"{"title":"x"}"#,
            r#"{"id":null}"#,
            r#"{"id":{"a":1}}"#,
            "[1]",
        ] {
            assert!(record(text).is_err(), "{text}");
        }
    }

    #[test]
    fn an_unreadable_modification_time_is_the_time_it_was_read() {
        let before = sync_core::domain::time::now();
        let read = record(r#"{"id":"a","updatedAt":"yesterday","archived":false}"#).unwrap();
        assert!(read.modified_at >= before);
        assert!(!read.deleted);
    }
}
