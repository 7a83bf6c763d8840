//! The one reconcile step that inbound runs, outbound sync and conflict
//! resolution share, for one record of one integration: merge the platform's
//! view and the provider's against the last synced base, store a conflict a
//! person must settle, write what the platform changed to the provider
//! (conditionally), record the result as the new base, and say so in events.
//! What differs between the three callers is only where the three versions
//! come from and what they do with the outcome.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{SyncEngine, outbound::OutboundError};
use crate::{
    domain::{
        Integration, SyncConflict,
        events::{
            ConflictDetected, DataSynced, EventMetadata, EventType, OutboundEvent, PlatformUpdate,
            PlatformUpdateMetadata, idempotency_key,
        },
        merge::{FieldChange, Fields, MergeOutcome, Side, change_set, three_way},
        sync_state::{RecordState, hash_value, raw_json},
        time,
    },
    ports::{Provider, ProviderError, PushRequest, StoreError},
};

/// One record being reconciled.
pub(super) struct Reconcile<'a> {
    pub engine: &'a SyncEngine,
    pub integration: &'a Integration,
    pub provider: &'a dyn Provider,
    pub entity: &'a str,
    pub external_id: &'a str,
    /// Carried by every event the step publishes.
    pub metadata: EventMetadata,
}

impl Reconcile<'_> {
    /// The three-way merge, settled by the integration's strategy; the
    /// provider's own fields (ids, flags, API metadata) are never merged.
    /// `newer` is the side that changed the record last, when known.
    pub fn merge(
        &self,
        base: &Fields,
        target: &Fields,
        source: &Fields,
        newer: Option<Side>,
    ) -> MergeOutcome {
        three_way(
            base,
            target,
            source,
            &self.integration.conflict_policy(newer),
            self.provider.owned_fields(),
        )
    }

    /// `[{field, old, new}]` between two versions, the provider's own fields left out.
    pub fn changes(&self, before: &Fields, after: &Fields) -> Vec<FieldChange> {
        change_set(before, after, self.provider.owned_fields())
    }

    /// Writes `fields` to the provider, only if the record was not modified
    /// after `read_at`; the record's new modification time, or `read_at`
    /// when there was nothing to write.
    pub async fn push(
        &self,
        fields: &Fields,
        read_at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, ProviderError> {
        if fields.is_empty() {
            return Ok(read_at);
        }
        let pushed = self
            .provider
            .push(
                self.integration,
                PushRequest {
                    entity_type: self.entity.to_owned(),
                    external_id: self.external_id.to_owned(),
                    fields: fields.clone(),
                    if_unmodified_since: Some(read_at),
                },
            )
            .await?;
        Ok(pushed.modified_at)
    }

    /// Records `snapshot` as what both sides now agree on: the base of the
    /// next merge, linked to its shard.
    /// `events` (what the write implies) go into the state's outbox in the
    /// same write: publish them with [`SyncEngine::publish_record_outbox`].
    pub async fn record_synced(
        &self,
        snapshot: &Value,
        modified_at: DateTime<Utc>,
        shard_id: Option<String>,
        previous: Option<&RecordState>,
        events: &[OutboundEvent],
    ) -> Result<(), StoreError> {
        let integration = self.integration;
        let mut outbox = previous.map(|p| p.outbox.clone()).unwrap_or_default();
        outbox.extend(events.iter().map(OutboundEvent::to_pending));
        self.engine
            .repo
            .upsert(&RecordState {
                id: RecordState::document_id(&integration.id, self.entity, self.external_id),
                tenant_id: integration.tenant_id,
                integration_id: integration.id.clone(),
                entity_type: self.entity.to_owned(),
                external_id: self.external_id.to_owned(),
                content_hash: Some(hash_value(snapshot)),
                // What is stored is the merge, not the provider's bytes.
                raw_hash: None,
                modified_at,
                snapshot: Some(raw_json(snapshot)),
                deleted: false,
                synced_at: time::now(),
                last_task_id: previous.map_or_else(uuid::Uuid::nil, |p| p.last_task_id),
                shard_id: shard_id.or_else(|| previous.and_then(|p| p.shard_id.clone())),
                last_correlation_id: self.metadata.correlation_id.map(|c| c.to_string()),
                outbox,
            })
            .await
            .map(|_| ())
    }

    /// Stores a conflict for a person (nothing is written to either side)
    /// and announces it.
    pub async fn conflict(
        &self,
        shard_id: Option<&str>,
        base: &Fields,
        target: &Fields,
        source: &Fields,
        merge: &MergeOutcome,
    ) -> Result<uuid::Uuid, OutboundError> {
        let integration = self.integration;
        let strategy = integration
            .conflict_policy(None)
            .strategy
            .unwrap_or(crate::domain::ConflictStrategy::Manual);
        let conflict = SyncConflict {
            conflict_id: uuid::Uuid::new_v4(),
            task_id: uuid::Uuid::nil(),
            tenant_id: integration.tenant_id,
            integration_id: integration.id.clone(),
            entity_id: self.external_id.to_owned(),
            entity_type: self.entity.to_owned(),
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
        self.engine.repo.create(&conflict).await?;
        let detected = self.engine.events.build(
            EventType::ConflictDetected,
            integration.tenant_id,
            ConflictDetected {
                conflict_id: conflict.conflict_id,
                task_id: conflict.task_id,
                entity_id: self.external_id,
                entity_type: self.entity,
                strategy: strategy.as_str(),
                integration_id: &integration.id,
                fields: conflict
                    .conflicting_fields
                    .iter()
                    .map(|c| c.field.as_str())
                    .collect(),
            },
            &self.metadata,
        );
        self.engine.bus.publish(&[detected]).await?;
        tracing::info!(conflict_id = %conflict.conflict_id, "conflict stored for a person to resolve");
        Ok(conflict.conflict_id)
    }

    /// `integration.data.synced`: a change went out to the provider.
    pub fn synced(&self, shard_id: &str, changes: Vec<FieldChange>) -> OutboundEvent {
        self.engine.events.build(
            EventType::DataSynced,
            self.integration.tenant_id,
            DataSynced {
                shard_id,
                direction: "outbound",
                integration_id: &self.integration.id,
                external_id: self.external_id,
                entity_type: self.entity,
                changes,
            },
            &self.metadata,
        )
    }

    /// The merged record for the platform, as an `integration.data.raw` with
    /// its change set, so integration-processors updates the shard.
    pub fn to_platform(&self, record: &Value, before: &Fields, after: &Fields) -> OutboundEvent {
        let integration = self.integration;
        let correlation = self.metadata.correlation_id.unwrap_or_default();
        self.engine.events.build(
            EventType::DataRaw,
            integration.tenant_id,
            PlatformUpdate {
                integration_id: &integration.id,
                tenant_id: integration.tenant_id,
                entity_type: self.entity,
                raw_data: record,
                external_id: self.external_id,
                idempotency_key: idempotency_key(&integration.id, self.external_id, correlation),
                correlation_id: correlation,
                metadata: PlatformUpdateMetadata {
                    direction: "bidirectional",
                    change: "updated",
                    changes: self.changes(before, after),
                },
            },
            &self.metadata,
        )
    }
}
