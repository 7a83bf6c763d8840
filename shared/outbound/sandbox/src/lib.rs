//! The `sandbox` provider: a deterministic CRM for demos, tests and benchmarks.
//!
//! Each (tenant, integration, entity) has `recordsPerEntity` generated records
//! whose ids, fields and modification times depend only on the integration's
//! `seed` and the record's index, so two runs see the same data. Several
//! records share each timestamp, as in real CRMs. Changes made through
//! [`Provider::push`] or [`SandboxProvider::delete`] are kept in memory and come
//! after every generated record in modification order, like a CRM's change feed.

mod generator;
mod overlay;
mod template;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use sync_core::{
    domain::{ExternalRecord, Integration, TenantId},
    ports::provider::{PageRequest, Provider, ProviderError, PushOutcome, PushRequest, RecordPage},
};

pub use generator::{EntityKind, RecordGenerator};
use overlay::{Overlay, OverlayKey};

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

#[derive(Clone, Default)]
pub struct SandboxProvider {
    overlay: Arc<Overlay>,
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

/// Where a walk stands: in the generated records, or in the changes after them.
enum Position {
    Generated(u64),
    Changed(usize),
}

fn parse_cursor(cursor: Option<&str>, first_generated: u64) -> Result<Position, ProviderError> {
    let invalid = |c: &str| ProviderError::Unsupported(format!("invalid sandbox cursor `{c}`"));
    match cursor {
        None => Ok(Position::Generated(first_generated)),
        Some(c) => match c.split_once(':') {
            Some(("g", n)) => n.parse().map(Position::Generated).map_err(|_| invalid(c)),
            Some(("c", n)) => n.parse().map(Position::Changed).map_err(|_| invalid(c)),
            _ => Err(invalid(c)),
        },
    }
}

impl SandboxProvider {
    /// Deletes a record at the "provider" (tests and demos).
    pub fn delete(
        &self,
        tenant: TenantId,
        integration_id: &str,
        entity: &str,
        external_id: &str,
    ) -> Result<(), ProviderError> {
        let entity = entity_of(entity)?;
        let key = OverlayKey::new(tenant, integration_id, entity, external_id);
        self.overlay.delete(key);
        Ok(())
    }
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
        let generator = RecordGenerator::new(settings.seed, entity);
        let total = settings.records_per_entity;
        let first = request
            .modified_since
            .map_or(0, |since| generator.first_index_modified_since(since));
        let changes = self.overlay.changes_since(
            integration.tenant_id,
            &integration.id,
            entity,
            request.modified_since,
        );
        let changed = self
            .overlay
            .changed_ids(integration.tenant_id, &integration.id, entity);
        let mut records = Vec::with_capacity(request.page_size);
        let mut position = parse_cursor(request.cursor.as_deref(), first)?;
        while records.len() < request.page_size {
            match position {
                Position::Generated(index) if index < total => {
                    let external_id = generator.external_id(index);
                    // A changed record appears once, where its change put it.
                    if !changed.contains(&external_id) {
                        let (raw, modified_at) = generator.record(index, None);
                        records.push(ExternalRecord {
                            entity_type: request.entity_type.clone(),
                            external_id,
                            modified_at,
                            deleted: false,
                            raw,
                        });
                    }
                    position = Position::Generated(index + 1);
                }
                Position::Generated(_) => position = Position::Changed(0),
                Position::Changed(n) => match changes.get(n) {
                    Some(change) => {
                        let index = generator.index_of(&change.external_id).unwrap_or(0);
                        let (raw, modified_at) =
                            generator.record(index, Some((&change.fields, change.modified_at)));
                        records.push(ExternalRecord {
                            entity_type: request.entity_type.clone(),
                            external_id: change.external_id.clone(),
                            modified_at,
                            deleted: change.deleted,
                            raw,
                        });
                        position = Position::Changed(n + 1);
                    }
                    None => break,
                },
            }
        }
        let next_cursor = match position {
            Position::Generated(index) if index < total => Some(format!("g:{index}")),
            Position::Generated(_) if !changes.is_empty() => Some("c:0".to_owned()),
            Position::Changed(n) if n < changes.len() => Some(format!("c:{n}")),
            _ => None,
        };
        Ok(RecordPage {
            records,
            next_cursor,
            // Generated records from the window on, and the changes (a
            // changed record may be counted twice: an estimate).
            total: Some(total.saturating_sub(first) + changes.len() as u64),
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
        let key = OverlayKey::new(
            integration.tenant_id,
            &integration.id,
            entity,
            &request.external_id,
        );
        let modified_at = self.overlay.apply(
            key,
            request.fields,
            generator.modified_at(index),
            request.if_unmodified_since,
        )?;
        Ok(PushOutcome { modified_at })
    }

    async fn get_record(
        &self,
        integration: &Integration,
        entity_type: &str,
        external_id: &str,
    ) -> Result<Option<ExternalRecord>, ProviderError> {
        let settings = settings_of(integration)?;
        let entity = entity_of(entity_type)?;
        let generator = RecordGenerator::new(settings.seed, entity);
        let Some(index) = generator
            .index_of(external_id)
            .filter(|i| *i < settings.records_per_entity)
        else {
            return Ok(None);
        };
        let change = self.overlay.get(&OverlayKey::new(
            integration.tenant_id,
            &integration.id,
            entity,
            external_id,
        ));
        if change.as_ref().is_some_and(|c| c.deleted) {
            return Ok(None);
        }
        let (raw, modified_at) =
            generator.record(index, change.as_ref().map(|c| (&c.fields, c.modified_at)));
        Ok(Some(ExternalRecord {
            entity_type: entity_type.to_owned(),
            external_id: external_id.to_owned(),
            modified_at,
            deleted: false,
            raw,
        }))
    }

    fn volatile_fields(&self) -> &'static [&'static str] {
        &["LastModifiedDate"]
    }
}

/// The instant a sandbox change is stamped with: after every generated record.
pub(crate) fn change_stamp(previous: DateTime<Utc>) -> DateTime<Utc> {
    sync_core::domain::time::now().max(previous + chrono::Duration::microseconds(1))
}

#[cfg(test)]
mod tests;
