//! `integration.data.mapped` / `integration.data.mapping.failed`: what
//! integration-processors made of the records a sync published. A success
//! counts as a shard created or updated (its `created` flag) on the task, and
//! links the record to its shard for bidirectional sync; a failure counts in
//! `recordsFailed`. The run's own counters (records created or updated since
//! the last sync) are not touched: the two are different facts.

use crate::{
    domain::{SyncTask, TenantId, events::consumed::MappingResult, sync_state::RecordState, time},
    ports::store::StoreError,
    repository::Repository,
};

/// Counts one result; an unknown task is not an error (it may have expired).
pub async fn count(
    repo: &Repository,
    tenant: TenantId,
    result: &MappingResult,
    failed: bool,
) -> Result<bool, StoreError> {
    if failed {
        tracing::warn!(
            external_id = result.external_id.as_deref().unwrap_or("-"),
            error = result.error.as_deref().unwrap_or("-"),
            "a record failed to map"
        );
    }
    let mut entity_types = Vec::new();
    let counted = repo
        .update::<SyncTask, _>(tenant, &result.sync_task_id.to_string(), |task| {
            match (failed, result.created) {
                (true, _) => task.counters.records_failed += 1,
                (false, true) => task.shards_created += 1,
                (false, false) => task.shards_updated += 1,
            }
            task.updated_at = time::now();
            entity_types = task.entity_types.clone();
            true
        })
        .await;
    let task = match counted {
        Ok(task) => task.doc,
        Err(StoreError::NotFound) => return Ok(false),
        Err(e) => return Err(e),
    };
    if let (Some(shard_id), Some(external_id), false) =
        (&result.shard_id, &result.external_id, failed)
    {
        link(repo, &task, &entity_types, external_id, shard_id).await?;
    }
    Ok(true)
}

/// Remembers which shard holds the record. The result does not say which
/// entity type the record is, so each of the task's types is tried (the
/// record's state exists under one of them).
async fn link(
    repo: &Repository,
    task: &SyncTask,
    entity_types: &[String],
    external_id: &str,
    shard_id: &str,
) -> Result<(), StoreError> {
    for entity_type in entity_types {
        let id = RecordState::document_id(&task.integration_id, entity_type, external_id);
        let linked = repo
            .update::<RecordState, _>(task.tenant_id, &id, |state| {
                let changed = state.shard_id.as_deref() != Some(shard_id);
                state.shard_id = Some(shard_id.to_owned());
                changed
            })
            .await;
        match linked {
            Ok(_) => return Ok(()),
            Err(StoreError::NotFound) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
