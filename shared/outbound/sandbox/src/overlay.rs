//! Changes made to sandbox records (pushes and deletions), kept in memory.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
};

use chrono::{DateTime, Utc};

use super::{EntityKind, change_stamp};
use sync_core::{domain::TenantId, ports::provider::ProviderError};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OverlayKey {
    tenant: TenantId,
    integration_id: String,
    entity: EntityKind,
    external_id: String,
}

impl OverlayKey {
    pub fn new(
        tenant: TenantId,
        integration_id: &str,
        entity: EntityKind,
        external_id: &str,
    ) -> Self {
        OverlayKey {
            tenant,
            integration_id: integration_id.to_owned(),
            entity,
            external_id: external_id.to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Change {
    pub external_id: String,
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub modified_at: DateTime<Utc>,
    pub deleted: bool,
}

#[derive(Default)]
pub struct Overlay {
    changes: Mutex<HashMap<OverlayKey, Change>>,
}

impl Overlay {
    pub fn get(&self, key: &OverlayKey) -> Option<Change> {
        self.changes.lock().expect("overlay lock").get(key).cloned()
    }

    /// The ids of one integration's changed records of one entity, whenever
    /// changed: a page takes them once instead of a lookup per record.
    pub fn changed_ids(
        &self,
        tenant: TenantId,
        integration_id: &str,
        entity: EntityKind,
    ) -> HashSet<String> {
        let changes = self.changes.lock().expect("overlay lock");
        changes
            .keys()
            .filter(|k| {
                k.tenant == tenant && k.integration_id == integration_id && k.entity == entity
            })
            .map(|k| k.external_id.clone())
            .collect()
    }

    /// Applies pushed fields; refuses when the record changed after `if_unmodified_since`.
    pub fn apply(
        &self,
        key: OverlayKey,
        fields: serde_json::Map<String, serde_json::Value>,
        generated_modified_at: DateTime<Utc>,
        if_unmodified_since: Option<DateTime<Utc>>,
    ) -> Result<DateTime<Utc>, ProviderError> {
        let mut changes = self.changes.lock().expect("overlay lock");
        let current = changes.get(&key);
        if current.is_some_and(|c| c.deleted) {
            return Err(ProviderError::NotFound(key.external_id));
        }
        let current_modified = current.map_or(generated_modified_at, |c| c.modified_at);
        if let Some(since) = if_unmodified_since
            && current_modified > since
        {
            return Err(ProviderError::PreconditionFailed);
        }
        let modified_at = change_stamp(current_modified);
        let external_id = key.external_id.clone();
        let entry = changes.entry(key).or_insert_with(|| Change {
            external_id,
            fields: serde_json::Map::new(),
            modified_at,
            deleted: false,
        });
        entry.fields.extend(fields);
        entry.modified_at = modified_at;
        Ok(modified_at)
    }

    pub fn delete(&self, key: OverlayKey) {
        let mut changes = self.changes.lock().expect("overlay lock");
        let external_id = key.external_id.clone();
        let previous = changes
            .get(&key)
            .map(|c| c.modified_at)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let entry = changes.entry(key).or_insert_with(|| Change {
            external_id,
            fields: serde_json::Map::new(),
            modified_at: previous,
            deleted: true,
        });
        entry.deleted = true;
        entry.modified_at = change_stamp(previous);
    }

    /// One integration's changes at or after `since`, in modification order.
    pub fn changes_since(
        &self,
        tenant: TenantId,
        integration_id: &str,
        entity: EntityKind,
        since: Option<DateTime<Utc>>,
    ) -> Vec<Change> {
        let changes = self.changes.lock().expect("overlay lock");
        let mut selected: Vec<Change> = changes
            .iter()
            .filter(|(k, c)| {
                k.tenant == tenant
                    && k.integration_id == integration_id
                    && k.entity == entity
                    && since.is_none_or(|s| c.modified_at >= s)
            })
            .map(|(_, c)| c.clone())
            .collect();
        selected
            .sort_by(|a, b| (a.modified_at, &a.external_id).cmp(&(b.modified_at, &b.external_id)));
        selected
    }
}
