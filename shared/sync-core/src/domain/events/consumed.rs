//! The data of the events this service consumes, as the platform's
//! publishers write it (each type names the file it follows). Lenient: fields
//! the handler does not need are ignored, optional ones may be missing.

use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{EventEnvelope, EventMetadata};
use crate::domain::TenantId;

/// `shard.updated` (shard-manager `src/services/ShardService.ts`, `update`):
/// `{shardId, shardTypeId, shardTypeName?, opportunityId?}`, never the shard
/// itself; the shard is read from shard-manager.
#[derive(Debug, Clone)]
pub struct ShardUpdated {
    pub event_id: Uuid,
    pub tenant_id: TenantId,
    pub shard_id: String,
    pub shard_type_id: Option<String>,
    pub metadata: EventMetadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShardUpdatedData {
    shard_id: String,
    #[serde(default)]
    shard_type_id: Option<String>,
}

impl ShardUpdated {
    pub fn from_envelope(envelope: &EventEnvelope<Value>) -> Result<Self, serde_json::Error> {
        let data = ShardUpdatedData::deserialize(&envelope.data)?;
        Ok(ShardUpdated {
            event_id: envelope.id,
            tenant_id: envelope.tenant_id,
            shard_id: data.shard_id,
            shard_type_id: data.shard_type_id,
            metadata: envelope.metadata,
        })
    }
}

/// `integration.sync.scheduled` (integration-manager
/// `src/events/consumers/IntegrationManagerEventConsumer.ts`:
/// `{integrationId, tenantId, trigger, scheduledAt}`) and
/// `integration.webhook.received` (`{integrationId, tenantId, entityType?, filters?}`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRequested {
    pub integration_id: String,
    #[serde(default)]
    pub entity_type: Option<String>,
    #[serde(default)]
    pub filters: Option<Value>,
    #[serde(default)]
    pub trigger: Option<String>,
}

/// `integration.token.refresh-requested` (same consumer file:
/// `{connectionId, integrationId, tenantId, expiresAt, requestedAt}`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequested {
    pub connection_id: String,
    pub integration_id: String,
}

/// `integration.data.mapped` / `integration.data.mapping.failed`
/// (integration-processors `src/consumers/CRMDataMappingConsumer.ts`,
/// `publishMappingSuccess` / `publishMappingFailed`). A success carries
/// `shardId` and `created`; a failure `error`, and `externalId` only when it
/// concerns one record. Neither carries the entity type.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingResult {
    pub sync_task_id: Uuid,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub shard_id: Option<String>,
    #[serde(default)]
    pub integration_id: Option<String>,
    /// Whether integration-processors created the shard (else it updated one).
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shard_updated_reads_shard_managers_payload() {
        let envelope: EventEnvelope<Value> = serde_json::from_value(json!({
            "id": Uuid::new_v4(), "type": "shard.updated", "version": "1.0",
            "timestamp": "2026-12-01T10:00:00.000Z", "tenantId": Uuid::new_v4(),
            "source": {"service": "shard-manager", "instance": "shard-manager-1-2"},
            "data": {"shardId": "s-1", "shardTypeId": "c_opportunity", "opportunityId": "006A"},
            "metadata": {}
        }))
        .unwrap();
        let event = ShardUpdated::from_envelope(&envelope).unwrap();
        assert_eq!(event.shard_id, "s-1");
        assert_eq!(event.shard_type_id.as_deref(), Some("c_opportunity"));
    }

    #[test]
    fn a_mapping_failure_without_a_record_parses() {
        let failure: MappingResult = serde_json::from_value(json!({
            "integrationId": "i", "tenantId": Uuid::new_v4(), "syncTaskId": Uuid::new_v4(),
            "correlationId": "c", "error": "No entity mapping found", "retryAttempt": 0
        }))
        .unwrap();
        assert!(failure.external_id.is_none() && !failure.created);
    }
}

/// `integration.sync.run_requested`, this service's own hand-off of a run
/// (see `payloads::SyncRunRequested`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRequested {
    pub task_id: Uuid,
}
