//! Deciding what a fetched record means against what was last synced.

use crate::domain::{
    ExternalRecord, TenantId,
    record::ChangeKind,
    sync_state::{RecordState, content_hash},
    time,
};

pub enum Change {
    /// New or different content: publish it, then store this state.
    Changed(ChangeKind, RecordState),
    /// Same content as last synced (or our own write coming back).
    Unchanged,
    /// The provider deleted a record we know: publish the deletion, store this tombstone.
    Deleted(RecordState),
    /// Deleted at the provider, and already a tombstone (or never known).
    AlreadyGone,
}

pub struct StateKey<'a> {
    pub tenant: TenantId,
    pub integration_id: &'a str,
    pub task_id: uuid::Uuid,
    pub correlation_id: &'a str,
}

pub fn classify(
    record: &ExternalRecord,
    known: Option<&RecordState>,
    volatile: &[&str],
    key: &StateKey,
) -> Change {
    let state = |hash: String, snapshot, deleted| RecordState {
        id: RecordState::document_id(key.integration_id, &record.entity_type, &record.external_id),
        tenant_id: key.tenant,
        integration_id: key.integration_id.to_owned(),
        entity_type: record.entity_type.clone(),
        external_id: record.external_id.clone(),
        content_hash: hash,
        modified_at: record.modified_at,
        snapshot,
        deleted,
        synced_at: time::now(),
        last_task_id: key.task_id,
        shard_id: known.and_then(|k| k.shard_id.clone()),
        last_correlation_id: Some(key.correlation_id.to_owned()),
    };
    if record.deleted {
        return match known {
            Some(live) if !live.deleted => Change::Deleted(state(
                live.content_hash.clone(),
                live.snapshot.clone(),
                true,
            )),
            _ => Change::AlreadyGone,
        };
    }
    let (hash, snapshot) = content_hash(&record.raw, volatile);
    match known {
        Some(live) if !live.deleted && live.content_hash == hash => Change::Unchanged,
        Some(live) if !live.deleted => {
            Change::Changed(ChangeKind::Updated, state(hash, snapshot, false))
        }
        _ => Change::Changed(ChangeKind::Created, state(hash, snapshot, false)),
    }
}
