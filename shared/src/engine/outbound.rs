//! Outbound sync: a platform change (`shard.updated`) goes to the external
//! system, merged field by field against the last synced base.
//!
//! Only what the platform changed is pushed, with a conditional write; a
//! provider-side change between our read and our write fails the condition
//! and the merge is redone from a fresh read. Both sides having changed the
//! same field is settled by the integration's strategy or stored as a
//! conflict, with nothing overwritten. The service's own inbound writes coming
//! back as `shard.updated` are recognised (correlation id, or no field that
//! differs from the base) and do nothing.

use serde_json::Value;

use super::SyncEngine;
use crate::{
    domain::{
        Integration, SyncConflict,
        events::{ConflictDetected, DataSynced, EventMetadata, ShardUpdated, types},
        merge::{Fields, MergeOutcome, change_set, three_way},
        shard::Shard,
        sync_state::{RecordState, canonical, hash_value, raw_json},
        time,
    },
    ports::{
        DirectoryError, Provider, ProviderError, PublishError, PushRequest, StoreError,
        shard_source::ShardError,
    },
};

/// Reads between our read and a conditional write that failed, before giving up.
const MAX_MERGE_ATTEMPTS: usize = 3;
/// Fields each side owns; never merged.
pub const NEVER_MERGED: &[&str] = &[
    "Id",
    "id",
    "IsDeleted",
    "attributes",
    "archived",
    "createdAt",
    "hs_object_id",
];

#[derive(Debug, Clone, PartialEq)]
pub enum OutboundOutcome {
    /// Fields were written to the external system (and, if the merge says so, back to the platform).
    Pushed { fields: Vec<String> },
    /// Both sides changed the same field and a person must decide.
    Conflict { conflict_id: uuid::Uuid },
    /// Nothing to do, and why.
    Skipped(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("shard: {0}")]
    Shard(#[from] ShardError),
    #[error("no shard-manager is configured and the event carries no shard")]
    NoShardSource,
    #[error("integration: {0}")]
    Directory(#[from] DirectoryError),
    #[error("the shard does not say which entity type it is, and the integration maps several")]
    UnknownEntity,
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    #[error(
        "the record kept changing at the provider; gave up after {MAX_MERGE_ATTEMPTS} attempts"
    )]
    KeptChanging,
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("event bus: {0}")]
    Publish(#[from] PublishError),
}

impl SyncEngine {
    #[tracing::instrument(skip_all, fields(tenant_id = %event.tenant_id, shard_id = %event.shard_id))]
    pub async fn handle_shard_updated(
        &self,
        event: ShardUpdated,
    ) -> Result<OutboundOutcome, OutboundError> {
        let shard = match event.shard.clone() {
            Some(shard) => shard,
            None => {
                let source = self.shards.as_ref().ok_or(OutboundError::NoShardSource)?;
                source.get_shard(event.tenant_id, &event.shard_id).await?
            }
        };
        let (Some(integration_id), Some(external_id)) =
            (shard.integration(), shard.external_id.clone())
        else {
            return Ok(OutboundOutcome::Skipped(
                "the shard is not linked to an external record",
            ));
        };
        let integration = self
            .directory
            .get_integration(event.tenant_id, integration_id)
            .await?;
        if !integration.syncs_outbound() || !integration.is_active() {
            return Ok(OutboundOutcome::Skipped(
                "the integration does not sync outbound",
            ));
        }
        let entity = match &shard.entity_type {
            Some(entity) => entity.clone(),
            None => match integration.enabled_entities().as_slice() {
                [only] => only.clone(),
                _ => return Err(OutboundError::UnknownEntity),
            },
        };
        let provider = self
            .providers
            .get(&integration.provider)
            .ok_or_else(|| ProviderError::Unsupported(integration.provider.clone()))?;
        let state_id = RecordState::document_id(&integration.id, &entity, &external_id);
        let state = self
            .repo
            .get::<RecordState>(event.tenant_id, &state_id)
            .await?
            .map(|v| v.doc);
        if let (Some(state), Some(correlation)) = (&state, &event.correlation_id)
            && state.last_correlation_id.as_deref() == Some(correlation)
        {
            return Ok(OutboundOutcome::Skipped("our own write coming back"));
        }
        for _ in 0..MAX_MERGE_ATTEMPTS {
            let outcome = self
                .merge_and_push(
                    &event,
                    &shard,
                    &integration,
                    provider.as_ref(),
                    &entity,
                    &external_id,
                    state.as_ref(),
                )
                .await;
            match outcome {
                Err(OutboundError::Provider(ProviderError::PreconditionFailed)) => {
                    tracing::info!(
                        "the record changed at the provider between read and write; merging again"
                    );
                }
                other => return other,
            }
        }
        Err(OutboundError::KeptChanging)
    }

    #[allow(clippy::too_many_arguments)]
    async fn merge_and_push(
        &self,
        event: &ShardUpdated,
        shard: &Shard,
        integration: &Integration,
        provider: &dyn Provider,
        entity: &str,
        external_id: &str,
        state: Option<&RecordState>,
    ) -> Result<OutboundOutcome, OutboundError> {
        let Some(remote) = provider
            .get_record(integration, entity, external_id)
            .await?
        else {
            return Ok(OutboundOutcome::Skipped(
                "the record no longer exists at the provider",
            ));
        };
        if remote.deleted {
            return Ok(OutboundOutcome::Skipped(
                "the record was deleted at the provider",
            ));
        }
        let remote_record = canonical(&remote.raw, provider.volatile_fields());
        let source = provider.fields_of(&remote_record);
        let base = state.filter(|s| !s.deleted).map_or_else(
            || source.clone(),
            |s| provider.fields_of(&s.snapshot_value(provider.volatile_fields())),
        );
        // Only fields the external system has: the shard's platform-only fields stay home.
        let target: Fields = shard
            .data
            .iter()
            .filter(|(k, _)| base.contains_key(*k) || source.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let merge = three_way(
            &base,
            &target,
            &source,
            &integration.conflict_policy(),
            NEVER_MERGED,
        );
        let metadata = EventMetadata {
            correlation_id: event
                .correlation_id
                .clone()
                .or_else(|| Some(uuid::Uuid::new_v4().to_string())),
            causation_id: event.event_id.clone(),
            user_id: None,
        };
        if merge.needs_person() {
            let conflict_id = self
                .record_conflict(
                    integration,
                    entity,
                    external_id,
                    Some(&shard.id),
                    &base,
                    &target,
                    &source,
                    &merge,
                    &metadata,
                )
                .await?;
            return Ok(OutboundOutcome::Conflict { conflict_id });
        }
        if merge.to_source.is_empty() && merge.to_target.is_empty() {
            // Remember which shard holds the record, for inbound conflict detection.
            if let Some(state) = state.filter(|s| s.shard_id.as_deref() != Some(shard.id.as_str()))
            {
                let shard_id = shard.id.clone();
                self.repo
                    .update::<RecordState, _>(event.tenant_id, &state.id, |s| {
                        s.shard_id = Some(shard_id.clone());
                        true
                    })
                    .await?;
            }
            return Ok(OutboundOutcome::Skipped(
                "nothing changed since the last sync",
            ));
        }
        let mut modified_at = remote.modified_at;
        if !merge.to_source.is_empty() {
            let pushed = provider
                .push(
                    integration,
                    PushRequest {
                        entity_type: entity.to_owned(),
                        external_id: external_id.to_owned(),
                        fields: merge.to_source.clone(),
                        if_unmodified_since: Some(remote.modified_at),
                    },
                )
                .await?;
            modified_at = pushed.modified_at;
        }
        let snapshot = provider.with_fields(&remote_record, &merge.to_source);
        self.repo
            .upsert(&RecordState {
                id: RecordState::document_id(&integration.id, entity, external_id),
                tenant_id: event.tenant_id,
                integration_id: integration.id.clone(),
                entity_type: entity.to_owned(),
                external_id: external_id.to_owned(),
                content_hash: Some(hash_value(&snapshot)),
                raw_hash: None,
                modified_at,
                snapshot: raw_json(&snapshot),
                deleted: false,
                synced_at: time::now(),
                last_task_id: state.map_or_else(uuid::Uuid::nil, |s| s.last_task_id),
                shard_id: Some(shard.id.clone()),
                last_correlation_id: metadata.correlation_id.clone(),
            })
            .await?;
        let mut events = vec![self.events.build(
            types::DATA_SYNCED,
            event.tenant_id,
            DataSynced {
                shard_id: &shard.id,
                direction: "outbound",
                integration_id: &integration.id,
                external_id,
                entity_type: entity,
                changes: change_set(&source, &merge.merged, NEVER_MERGED),
            },
            &metadata,
        )];
        if !merge.to_target.is_empty() {
            events.push(self.platform_update(
                event.tenant_id,
                integration,
                entity,
                external_id,
                &snapshot,
                &target,
                &merge.merged,
                &metadata,
            ));
        }
        self.bus.publish(&events).await?;
        Ok(OutboundOutcome::Pushed {
            fields: merge.to_source.keys().cloned().collect(),
        })
    }

    /// The merged record for the platform, as an `integration.data.raw` with
    /// its change set, so processors update the shard.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn platform_update(
        &self,
        tenant: uuid::Uuid,
        integration: &Integration,
        entity: &str,
        external_id: &str,
        record: &Value,
        before: &Fields,
        after: &Fields,
        metadata: &EventMetadata,
    ) -> crate::domain::events::OutboundEvent {
        let data = serde_json::json!({
            "integrationId": integration.id,
            "tenantId": tenant,
            "entityType": entity,
            "rawData": record,
            "externalId": external_id,
            "idempotencyKey": format!("{}-{external_id}-{}", integration.id, metadata.correlation_id.clone().unwrap_or_default()),
            "correlationId": metadata.correlation_id,
            "metadata": {"direction": "bidirectional", "change": "updated", "changes": change_set(before, after, NEVER_MERGED)},
        });
        self.events.build(types::DATA_RAW, tenant, data, metadata)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn record_conflict(
        &self,
        integration: &Integration,
        entity: &str,
        external_id: &str,
        shard_id: Option<&str>,
        base: &Fields,
        target: &Fields,
        source: &Fields,
        merge: &MergeOutcome,
        metadata: &EventMetadata,
    ) -> Result<uuid::Uuid, OutboundError> {
        let strategy = integration
            .conflict_policy()
            .strategy
            .unwrap_or(crate::domain::ConflictStrategy::Manual);
        let conflict = SyncConflict {
            conflict_id: uuid::Uuid::new_v4(),
            task_id: uuid::Uuid::nil(),
            tenant_id: integration.tenant_id,
            integration_id: integration.id.clone(),
            entity_id: external_id.to_owned(),
            entity_type: entity.to_owned(),
            source_data: Value::Object(source.clone()),
            target_data: Value::Object(target.clone()),
            resolution_strategy: strategy,
            base_data: Value::Object(base.clone()),
            conflicting_fields: merge.unresolved.clone(),
            shard_id: shard_id.map(str::to_owned),
            resolution: None,
            resolved: false,
            resolved_at: None,
            resolved_by: None,
            created_at: time::now(),
        };
        self.repo.create(&conflict).await?;
        let fields: Vec<&str> = conflict
            .conflicting_fields
            .iter()
            .map(|c| c.field.as_str())
            .collect();
        let detected = self.events.build(
            types::CONFLICT_DETECTED,
            integration.tenant_id,
            ConflictDetected {
                conflict_id: conflict.conflict_id,
                task_id: conflict.task_id,
                entity_id: external_id,
                entity_type: entity,
                strategy: serde_json::to_value(strategy)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .as_deref()
                    .unwrap_or("manual"),
                integration_id: &integration.id,
                fields,
            },
            metadata,
        );
        self.bus.publish(&[detected]).await?;
        tracing::info!(conflict_id = %conflict.conflict_id, "conflict stored for a person to resolve");
        Ok(conflict.conflict_id)
    }
}
