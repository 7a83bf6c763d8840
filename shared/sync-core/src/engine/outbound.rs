//! Outbound sync: a platform change (`shard.updated`, which carries only the
//! shard's id) goes to the external system, merged field by field against the
//! last synced base.
//!
//! The shard is read from shard-manager; the record it mirrors is named in
//! its metadata (see [`Shard::link`]); its platform field names go back to the
//! provider's through the integration's field mappings
//! ([`field_mapping::to_provider`]). Only what the platform changed is pushed,
//! with a conditional write; a provider-side change between our read and our
//! write fails the condition and the merge is redone from a fresh read. Both
//! sides having changed the same field is settled by the integration's
//! strategy or stored as a conflict, with nothing overwritten. The service's
//! own inbound writes coming back as `shard.updated` are recognised
//! (correlation id, or no field that differs from the base) and do nothing.
//! A provider that cannot be written to (integration-manager's proxy) is
//! refused before anything is read.

use super::{SyncEngine, reconcile::Reconcile};
use crate::{
    domain::{
        EntityMapping, ExternalRecord, Integration,
        events::{EventMetadata, ShardUpdated},
        field_mapping,
        merge::{Fields, Side},
        shard::Shard,
        sync_state::{RecordState, canonical, raw_hash},
    },
    ports::{
        DirectoryError, Provider, ProviderError, PublishError, StoreError, Transience,
        shard_source::ShardError,
    },
};

/// What both sides are compared against: the snapshot last synced; for a
/// record never synced, the provider's record (the platform's differences are
/// its edits). A state kept without a snapshot (synced while the integration
/// only read) has its base only if the provider's record has not moved since
/// (same bytes, or not modified after); otherwise there is no common ancestor
/// and every field the two sides hold differently is a conflict, settled by
/// the integration's strategy, never guessed.
fn merge_base(
    state: Option<&RecordState>,
    remote: &ExternalRecord,
    provider: &dyn Provider,
    source: &Fields,
) -> Fields {
    let Some(state) = state.filter(|s| !s.deleted) else {
        return source.clone();
    };
    if let Some(snapshot) = state.snapshot_value(provider.volatile_fields()) {
        return provider.fields_of(&snapshot);
    }
    let unmoved = state.raw_hash.as_deref() == Some(raw_hash(&remote.raw).as_str())
        || remote.modified_at <= state.modified_at;
    if unmoved {
        source.clone()
    } else {
        Fields::new()
    }
}

/// Reads between our read and a conditional write that failed, before giving up.
const MAX_MERGE_ATTEMPTS: usize = 3;
#[derive(Debug, Clone, PartialEq)]
pub enum OutboundOutcome {
    /// Fields were written to the external system (and, if the merge says so, back to the platform).
    Pushed { fields: Vec<String> },
    /// Both sides changed the same field and a person must decide.
    Conflict { conflict_id: uuid::Uuid },
    /// Nothing to do, and why.
    Skipped(&'static str),
    /// The integration cannot be written to; the text says why.
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("shard: {0}")]
    Shard(#[from] ShardError),
    #[error("no shard-manager is configured: shard.updated carries only the shard's id")]
    NoShardSource,
    #[error("integration: {0}")]
    Directory(#[from] DirectoryError),
    #[error(
        "shard type `{0}` matches none of the integration's entity mappings, and it has several"
    )]
    UnknownEntity(String),
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

impl From<super::outbox::PublishOrStore> for OutboundError {
    fn from(e: super::outbox::PublishOrStore) -> Self {
        match e {
            super::outbox::PublishOrStore::Publish(e) => OutboundError::Publish(e),
            super::outbox::PublishOrStore::Store(e) => OutboundError::Store(e),
        }
    }
}

impl Transience for OutboundError {
    fn is_transient(&self) -> bool {
        match self {
            OutboundError::Shard(e) => e.is_transient(),
            OutboundError::Directory(e) => e.is_transient(),
            OutboundError::Provider(e) => e.is_transient(),
            OutboundError::Store(e) => e.is_transient(),
            OutboundError::Publish(e) => e.is_transient(),
            // The next shard.updated or a redelivery reads the record again.
            OutboundError::KeptChanging => true,
            OutboundError::NoShardSource | OutboundError::UnknownEntity(_) => false,
        }
    }
}

impl SyncEngine {
    #[tracing::instrument(skip_all, fields(tenant_id = %event.tenant_id, shard_id = %event.shard_id))]
    pub async fn handle_shard_updated(
        &self,
        event: ShardUpdated,
    ) -> Result<OutboundOutcome, OutboundError> {
        let source = self.shards.as_ref().ok_or(OutboundError::NoShardSource)?;
        let shard = source.get_shard(event.tenant_id, &event.shard_id).await?;
        let Some(link) = shard.link() else {
            return Ok(OutboundOutcome::Skipped(
                "the shard is not linked to an external record",
            ));
        };
        let integration = self
            .directory
            .get_integration(event.tenant_id, &link.integration_id)
            .await?;
        if !integration.syncs_outbound() || !integration.is_active() {
            return Ok(OutboundOutcome::Skipped(
                "the integration does not sync outbound",
            ));
        }
        let provider = self
            .providers
            .get(&integration.provider)
            .ok_or_else(|| ProviderError::Unsupported(integration.provider.clone()))?;
        if !provider.can_push() {
            let why = format!(
                "integration {} ({}) is reached through integration-manager, which cannot write \
                 to the provider: outbound sync is not possible for it",
                integration.id, integration.provider
            );
            tracing::warn!(reason = %why, "outbound sync refused");
            return Ok(OutboundOutcome::Refused(why));
        }
        let shard_type = shard
            .shard_type_id
            .clone()
            .or_else(|| event.shard_type_id.clone())
            .unwrap_or_default();
        let mapping = entity_mapping(&integration, &shard_type)?;
        let entity = mapping.external_entity.clone();
        let external_id = link.external_id;
        let state_id = RecordState::document_id(&integration.id, &entity, &external_id);
        let mut state = self
            .repo
            .get::<RecordState>(event.tenant_id, &state_id)
            .await?
            .map(|v| v.doc);
        if let Some(pending) = state.as_mut().filter(|s| !s.outbox.is_empty()) {
            // A crash after an earlier write of this record, before its
            // events were confirmed: they go out first.
            self.publish_record_outbox(event.tenant_id, &state_id)
                .await?;
            pending.outbox.clear();
        }
        if let (Some(state), Some(correlation)) = (&state, &event.metadata.correlation_id)
            && state.last_correlation_id.as_deref() == Some(correlation.to_string().as_str())
        {
            return Ok(OutboundOutcome::Skipped("our own write coming back"));
        }
        for _ in 0..MAX_MERGE_ATTEMPTS {
            let outcome = self
                .merge_and_push(
                    &event,
                    &shard,
                    &integration,
                    mapping,
                    provider.as_ref(),
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
        mapping: &EntityMapping,
        provider: &dyn Provider,
        external_id: &str,
        state: Option<&RecordState>,
    ) -> Result<OutboundOutcome, OutboundError> {
        let entity = mapping.external_entity.as_str();
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
        let base = merge_base(state, &remote, provider, &source);
        // The shard in the provider's field names; platform-only fields stay home.
        let view =
            field_mapping::to_provider(&mapping.field_mappings, &shard.structured_data, &base);
        if !view.skipped.is_empty() {
            tracing::info!(fields = ?view.skipped, "mapped fields that cannot be written back");
        }
        let target = view.fields;
        let reconcile = Reconcile {
            engine: self,
            integration,
            provider,
            entity,
            external_id,
            metadata: EventMetadata {
                correlation_id: event
                    .metadata
                    .correlation_id
                    .or_else(|| Some(uuid::Uuid::new_v4())),
                causation_id: Some(event.event_id),
                user_id: event.metadata.user_id,
            },
        };
        let newer = newer_side(remote.modified_at, shard.updated_at);
        let merge = reconcile.merge(&base, &target, &source, newer);
        if merge.needs_person() {
            let conflict_id = reconcile
                .conflict(Some(&shard.id), &base, &target, &source, &merge)
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
        let modified_at = reconcile.push(&merge.to_source, remote.modified_at).await?;
        let snapshot = provider.with_fields(&remote_record, &merge.to_source);
        let mut events =
            vec![reconcile.synced(&shard.id, reconcile.changes(&source, &merge.merged))];
        if !merge.to_target.is_empty() {
            events.push(reconcile.to_platform(&snapshot, &target, &merge.merged));
        }
        reconcile
            .record_synced(
                &snapshot,
                modified_at,
                Some(shard.id.clone()),
                state,
                &events,
            )
            .await?;
        self.publish_record_outbox(event.tenant_id, &state_id(integration, entity, external_id))
            .await?;
        Ok(OutboundOutcome::Pushed {
            fields: merge.to_source.keys().cloned().collect(),
        })
    }
}

fn state_id(integration: &Integration, entity: &str, external_id: &str) -> String {
    RecordState::document_id(&integration.id, entity, external_id)
}

/// The entity mapping a shard of `shard_type` belongs to: the one with that
/// shard type, else the integration's only enabled mapping.
fn entity_mapping<'i>(
    integration: &'i Integration,
    shard_type: &str,
) -> Result<&'i EntityMapping, OutboundError> {
    if let Some(mapping) = integration.mapping_for_shard_type(shard_type) {
        return Ok(mapping);
    }
    let mut enabled = integration
        .sync_config
        .entity_mappings
        .iter()
        .filter(|m| m.enabled);
    match (enabled.next(), enabled.next()) {
        (Some(only), None) => Ok(only),
        _ => Err(OutboundError::UnknownEntity(shard_type.to_owned())),
    }
}

/// Which side changed the record last, when both times are known
/// (`last_write_wins`); the provider wins a tie.
pub(super) fn newer_side(
    remote_modified: chrono::DateTime<chrono::Utc>,
    shard_updated: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<Side> {
    shard_updated.map(|local| {
        if local > remote_modified {
            Side::Target
        } else {
            Side::Source
        }
    })
}
