//! A provider of `n` records per entity type, generated from their index, for
//! the core's own tests: ordered by modification time then id, paged by an
//! offset cursor, narrowed by `modified_since`.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::value::RawValue;

use crate::{
    domain::{ExternalRecord, Integration},
    ports::provider::{PageRequest, Provider, ProviderError, PushOutcome, PushRequest, RecordPage},
};

pub struct FakeProvider {
    pub records_per_entity: u64,
}

fn modified(index: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(index as i64)
}

fn record(entity: &str, index: u64) -> ExternalRecord {
    let external_id = format!("{entity}-{index:06}");
    let raw = format!(r#"{{"Id":"{external_id}","Name":"{entity} {index}"}}"#);
    ExternalRecord {
        entity_type: entity.to_owned(),
        external_id,
        modified_at: modified(index),
        deleted: false,
        raw: RawValue::from_string(raw).expect("valid JSON"),
    }
}

#[async_trait]
impl Provider for FakeProvider {
    async fn fetch_page(
        &self,
        _integration: &Integration,
        request: PageRequest,
    ) -> Result<RecordPage, ProviderError> {
        let first = match request.modified_since {
            Some(since) => (0..self.records_per_entity)
                .find(|i| modified(*i) >= since)
                .unwrap_or(self.records_per_entity),
            None => 0,
        };
        let start: u64 = match &request.cursor {
            Some(c) => c
                .parse()
                .map_err(|_| ProviderError::Unsupported(format!("cursor `{c}`")))?,
            None => first,
        };
        let end = (start + request.page_size as u64).min(self.records_per_entity);
        Ok(RecordPage {
            records: (start..end)
                .map(|i| record(&request.entity_type, i))
                .collect(),
            next_cursor: (end < self.records_per_entity).then(|| end.to_string()),
            total: Some(self.records_per_entity - first),
        })
    }

    async fn push(
        &self,
        _integration: &Integration,
        _request: PushRequest,
    ) -> Result<PushOutcome, ProviderError> {
        Err(ProviderError::Unsupported(
            "the fake provider is read-only".into(),
        ))
    }
}
