//! The `sandbox` provider: a deterministic CRM for demos, tests and benchmarks.
//!
//! Each (tenant, integration, entity) has `recordsPerEntity` records whose ids,
//! fields and modification times depend only on the integration's `seed` and the
//! record's index, so two runs see the same data. Pages are ordered by
//! modification time (several records share each timestamp, as real CRMs do).
//! Pushed changes are kept in memory and overlaid on later reads.

mod generator;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::{
    domain::{ExternalRecord, Integration, TenantId},
    ports::provider::{PageRequest, Provider, ProviderError, PushOutcome, PushRequest, RecordPage},
};

pub use generator::{EntityKind, RecordGenerator};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SandboxSettings {
    #[serde(default = "default_records")]
    records_per_entity: u64,
    #[serde(default)]
    seed: u64,
}

fn default_records() -> u64 {
    200
}

type OverlayKey = (TenantId, String, EntityKind, String);

#[derive(Clone, Default)]
pub struct SandboxProvider {
    /// Fields pushed to the sandbox, overlaid on the generated records.
    overlay: Arc<Mutex<HashMap<OverlayKey, Overlay>>>,
}

#[derive(Debug, Clone)]
struct Overlay {
    fields: serde_json::Map<String, serde_json::Value>,
    modified_at: DateTime<Utc>,
}

fn settings_of(integration: &Integration) -> Result<SandboxSettings, ProviderError> {
    let raw = integration
        .settings
        .get("sandbox")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    serde_json::from_value(raw).map_err(|e| {
        ProviderError::Unsupported(format!("invalid settings.sandbox of the integration: {e}"))
    })
}

fn entity_of(name: &str) -> Result<EntityKind, ProviderError> {
    EntityKind::parse(name)
        .ok_or_else(|| ProviderError::NotFound(format!("the sandbox has no entity `{name}`")))
}

fn parse_cursor(cursor: Option<&str>) -> Result<u64, ProviderError> {
    cursor.map_or(Ok(0), |c| {
        c.parse()
            .map_err(|_| ProviderError::Unsupported(format!("invalid sandbox cursor `{c}`")))
    })
}

#[async_trait]
impl Provider for SandboxProvider {
    async fn fetch_page(
        &self,
        integration: &Integration,
        request: PageRequest,
    ) -> Result<RecordPage, ProviderError> {
        let settings = settings_of(integration)?;
        let entity = entity_of(&request.entity_type)?;
        let start = parse_cursor(request.cursor.as_deref())?;
        let end = (start + request.page_size as u64).min(settings.records_per_entity);
        let generator = RecordGenerator::new(settings.seed, entity);
        let overlay = self.overlay.lock().expect("sandbox overlay lock");
        let records = (start..end)
            .map(|index| {
                let external_id = generator.external_id(index);
                let key = (
                    integration.tenant_id,
                    integration.id.clone(),
                    entity,
                    external_id.clone(),
                );
                let pushed = overlay.get(&key).map(|o| (&o.fields, o.modified_at));
                let (raw, modified_at) = generator.record(index, pushed);
                ExternalRecord {
                    entity_type: request.entity_type.clone(),
                    external_id,
                    modified_at,
                    deleted: false,
                    raw,
                }
            })
            .collect();
        Ok(RecordPage {
            records,
            next_cursor: (end < settings.records_per_entity).then(|| end.to_string()),
            total_hint: Some(settings.records_per_entity),
        })
    }

    async fn push(
        &self,
        integration: &Integration,
        request: PushRequest,
    ) -> Result<PushOutcome, ProviderError> {
        let settings = settings_of(integration)?;
        let entity = entity_of(&request.entity_type)?;
        let generator = RecordGenerator::new(settings.seed, entity);
        let index = generator
            .index_of(&request.external_id)
            .filter(|i| *i < settings.records_per_entity)
            .ok_or_else(|| ProviderError::NotFound(request.external_id.clone()))?;
        let key = (
            integration.tenant_id,
            integration.id.clone(),
            entity,
            request.external_id.clone(),
        );
        let mut overlay = self.overlay.lock().expect("sandbox overlay lock");
        let current_modified = overlay
            .get(&key)
            .map_or_else(|| generator.modified_at(index), |o| o.modified_at);
        if let Some(since) = request.if_unmodified_since
            && current_modified > since
        {
            return Err(ProviderError::PreconditionFailed);
        }
        let modified_at = Utc::now().max(current_modified + chrono::Duration::milliseconds(1));
        let entry = overlay.entry(key).or_insert_with(|| Overlay {
            fields: serde_json::Map::new(),
            modified_at,
        });
        entry.fields.extend(request.fields);
        entry.modified_at = modified_at;
        Ok(PushOutcome { modified_at })
    }
}

#[cfg(test)]
mod tests;
