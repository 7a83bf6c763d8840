//! `integration.data.mapped` / `integration.data.mapping.failed`: what
//! integration-processors made of the records a sync published. Each result
//! counts on its task (created, updated or failed) and links the record to its
//! shard for bidirectional sync.

use serde::Deserialize;
use uuid::Uuid;

use crate::{
    domain::{SyncTask, TenantId, sync_state::RecordState, time},
    ports::store::StoreError,
    repository::Repository,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingResult {
    pub sync_task_id: Uuid,
    pub external_id: String,
    #[serde(default)]
    pub shard_id: Option<String>,
    #[serde(default)]
    pub integration_id: Option<String>,
    #[serde(default)]
    pub entity_type: Option<String>,
    /// `created` or `updated` (processors may say either; default `updated`).
    #[serde(default, alias = "action")]
    pub operation: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// Counts one result; an unknown task is not an error (it may have expired).
pub async fn count(
    repo: &Repository,
    tenant: TenantId,
    result: &MappingResult,
    failed: bool,
) -> Result<bool, StoreError> {
    let created = result.operation.as_deref() == Some("created");
    if failed {
        tracing::warn!(external_id = %result.external_id, error = result.error.as_deref().unwrap_or("-"), "a record failed to map");
    }
    let counted = repo
        .update::<SyncTask, _>(tenant, &result.sync_task_id.to_string(), |task| {
            match (failed, created) {
                (true, _) => task.counters.records_failed += 1,
                (false, true) => task.counters.records_created += 1,
                (false, false) => task.counters.records_updated += 1,
            }
            task.updated_at = time::now();
            true
        })
        .await;
    match counted {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Ok(false),
        Err(e) => return Err(e),
    }
    if let (Some(shard_id), Some(integration_id), Some(entity_type)) = (
        &result.shard_id,
        &result.integration_id,
        &result.entity_type,
    ) {
        let id = RecordState::document_id(integration_id, entity_type, &result.external_id);
        let linked = repo
            .update::<RecordState, _>(tenant, &id, |state| {
                let changed = state.shard_id.as_deref() != Some(shard_id.as_str());
                state.shard_id = Some(shard_id.clone());
                changed
            })
            .await;
        if let Err(e) = linked
            && !matches!(e, StoreError::NotFound)
        {
            return Err(e);
        }
    }
    Ok(true)
}
