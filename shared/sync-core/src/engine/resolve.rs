//! Resolving a stored conflict: the chosen values are written to both sides,
//! the base snapshot moves to the result, and the conflict records who did it.
//! Repeating a resolution is harmless; a different one is refused.

use serde_json::Value;

use super::{SyncEngine, outbound::OutboundError, reconcile::Reconcile};
use crate::{
    domain::{
        ConflictStrategy, SyncConflict, TenantId,
        events::EventMetadata,
        merge::{ConflictPolicy, Fields, Side, three_way},
        sync_state::{RecordState, canonical},
        time,
    },
    ports::{ProviderError, StoreError},
};

#[derive(Debug, Clone)]
pub struct ResolveRequest {
    pub resolution: ConflictStrategy,
    /// Chosen values per conflicting field (required for `manual`).
    pub values: Option<Fields>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("conflict not found")]
    NotFound,
    #[error("the conflict was already resolved with `{0}`")]
    ResolvedDifferently(String),
    #[error(
        "values: a manual resolution must give a value for every conflicting field; missing {0:?}"
    )]
    MissingValues(Vec<String>),
    #[error(
        "the record changed at the provider since the conflict was found; the next sync detects it again"
    )]
    Changed,
    #[error(transparent)]
    Outbound(#[from] OutboundError),
}

impl From<StoreError> for ResolveError {
    fn from(e: StoreError) -> Self {
        ResolveError::Outbound(e.into())
    }
}

fn object(value: &Value) -> Fields {
    value.as_object().cloned().unwrap_or_default()
}

impl SyncEngine {
    pub async fn resolve_conflict(
        &self,
        tenant: TenantId,
        conflict_id: uuid::Uuid,
        request: ResolveRequest,
        resolved_by: &str,
    ) -> Result<SyncConflict, ResolveError> {
        let conflict = self
            .repo
            .get::<SyncConflict>(tenant, &conflict_id.to_string())
            .await?
            .ok_or(ResolveError::NotFound)?
            .doc;
        if conflict.resolved {
            return match conflict.resolution {
                Some(done) if done == request.resolution => Ok(conflict),
                done => Err(ResolveError::ResolvedDifferently(
                    done.map(|d| d.as_str().to_owned()).unwrap_or_default(),
                )),
            };
        }
        let chosen = self.chosen_values(&conflict, &request)?;
        self.apply_resolution(&conflict, &chosen).await?;
        let resolution = request.resolution;
        let mut raced = None;
        let updated = self
            .repo
            .update::<SyncConflict, _>(tenant, &conflict_id.to_string(), |c| {
                if c.resolved {
                    raced = c.resolution;
                    return false;
                }
                c.resolved = true;
                c.resolution = Some(resolution);
                c.resolved_at = Some(time::now());
                c.resolved_by = Some(resolved_by.to_owned());
                true
            })
            .await?;
        match raced {
            Some(other) if other != resolution => {
                Err(ResolveError::ResolvedDifferently(other.as_str().to_owned()))
            }
            _ => Ok(updated.doc),
        }
    }

    fn chosen_values(
        &self,
        conflict: &SyncConflict,
        request: &ResolveRequest,
    ) -> Result<Fields, ResolveError> {
        let given = request.values.clone().unwrap_or_default();
        let mut chosen = Fields::new();
        let mut missing = Vec::new();
        for field in &conflict.conflicting_fields {
            let value = match request.resolution {
                ConflictStrategy::SourceWins => field.source.clone(),
                ConflictStrategy::TargetWins => field.target.clone(),
                ConflictStrategy::Merge => given
                    .get(&field.field)
                    .cloned()
                    .or_else(|| field.source.clone()),
                ConflictStrategy::Manual => match given.get(&field.field) {
                    Some(value) => Some(value.clone()),
                    None => {
                        missing.push(field.field.clone());
                        continue;
                    }
                },
            };
            chosen.insert(field.field.clone(), value.unwrap_or(Value::Null));
        }
        if !missing.is_empty() {
            return Err(ResolveError::MissingValues(missing));
        }
        Ok(chosen)
    }

    /// Writes the resolution to both sides, from a fresh read of the provider.
    async fn apply_resolution(
        &self,
        conflict: &SyncConflict,
        chosen: &Fields,
    ) -> Result<(), ResolveError> {
        let tenant = conflict.tenant_id;
        let integration = self
            .directory
            .get_integration(tenant, &conflict.integration_id)
            .await
            .map_err(OutboundError::from)?;
        let provider = self.providers.get(&integration.provider).ok_or_else(|| {
            OutboundError::from(ProviderError::Unsupported(integration.provider.clone()))
        })?;
        let (entity, external_id) = (&conflict.entity_type, &conflict.entity_id);
        let remote = provider
            .get_record(&integration, entity, external_id)
            .await
            .map_err(OutboundError::from)?
            .ok_or(ResolveError::Changed)?;
        let reconcile = Reconcile {
            engine: self,
            integration: &integration,
            provider: provider.as_ref(),
            entity,
            external_id,
            metadata: EventMetadata {
                correlation_id: Some(uuid::Uuid::new_v4()),
                causation_id: Some(conflict.conflict_id),
                user_id: None,
            },
        };
        let remote_record = canonical(&remote.raw, provider.volatile_fields());
        let source = provider.fields_of(&remote_record);
        let (base, target) = (object(&conflict.base_data), object(&conflict.target_data));
        // Everything but the conflicting fields merges as usual (the provider
        // winning a field changed on both sides since); those take the chosen values.
        let everything_else = ConflictPolicy {
            strategy: Some(ConflictStrategy::Merge),
            default_rule: Some(Side::Source),
            ..Default::default()
        };
        let owned = provider.owned_fields();
        let merge = three_way(&base, &target, &source, &everything_else, owned);
        let newly_conflicting = merge.settled.iter().any(|c| !chosen.contains_key(&c.field));
        if newly_conflicting {
            return Err(ResolveError::Changed);
        }
        let mut merged = merge.merged.clone();
        crate::ports::provider::apply_fields(&mut merged, chosen);
        let differs = |side: &Fields| -> Fields {
            merged
                .iter()
                .filter(|(k, v)| !owned.contains(&k.as_str()) && side.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let (to_source, to_target) = (differs(&source), differs(&target));
        let modified_at = match reconcile.push(&to_source, remote.modified_at).await {
            Ok(modified_at) => modified_at,
            Err(ProviderError::PreconditionFailed) => return Err(ResolveError::Changed),
            Err(e) => return Err(OutboundError::from(e).into()),
        };
        let snapshot = provider.with_fields(&remote_record, &to_source);
        let state_id = RecordState::document_id(&integration.id, entity, external_id);
        let previous = self
            .repo
            .get::<RecordState>(tenant, &state_id)
            .await?
            .map(|v| v.doc);
        let mut events = Vec::new();
        if !to_source.is_empty() {
            let shard_id = conflict.shard_id.as_deref().unwrap_or_default();
            events.push(reconcile.synced(shard_id, reconcile.changes(&source, &merged)));
        }
        if !to_target.is_empty() {
            events.push(reconcile.to_platform(&snapshot, &target, &merged));
        }
        reconcile
            .record_synced(
                &snapshot,
                modified_at,
                conflict.shard_id.clone(),
                previous.as_ref(),
                &events,
            )
            .await?;
        self.publish_record_outbox(tenant, &state_id)
            .await
            .map_err(OutboundError::from)?;
        Ok(())
    }
}
