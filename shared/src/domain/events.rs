//! The platform's event envelope and the payloads this service publishes.
//!
//! Payloads borrow from the records they describe (`&RawValue`), so an event is
//! serialised straight from the provider's bytes, once.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::{RecordCounters, TenantId, task::PendingEvent};

/// Routing keys (= event types) this service publishes and consumes.
pub mod types {
    pub const SYNC_STARTED: &str = "integration.sync.started";
    pub const SYNC_COMPLETED: &str = "integration.sync.completed";
    pub const SYNC_FAILED: &str = "integration.sync.failed";
    pub const SYNC_CANCELLED: &str = "integration.sync.cancelled";
    pub const DATA_RAW: &str = "integration.data.raw";
    pub const DATA_RAW_BATCH: &str = "integration.data.raw.batch";
    pub const DATA_DELETED: &str = "integration.data.deleted";
    pub const OPPORTUNITY_UPDATED: &str = "integration.opportunity.updated";
    pub const CONFLICT_DETECTED: &str = "integration.conflict.detected";
    pub const DATA_SYNCED: &str = "integration.data.synced";
    pub const SYNC_CHECK_DUE: &str = "integration.sync.check-due";
    pub const TOKEN_CHECK_EXPIRING: &str = "integration.token.check-expiring";
    pub const TOKEN_REFRESHED: &str = "integration.token.refreshed";
    pub const TOKEN_REFRESH_FAILED: &str = "integration.token.refresh.failed";

    pub const SHARD_UPDATED: &str = "shard.updated";
    pub const SYNC_SCHEDULED: &str = "integration.sync.scheduled";
    pub const WEBHOOK_RECEIVED: &str = "integration.webhook.received";
    pub const TOKEN_REFRESH_REQUESTED: &str = "integration.token.refresh-requested";
    pub const DATA_MAPPED: &str = "integration.data.mapped";
    pub const DATA_MAPPING_FAILED: &str = "integration.data.mapping.failed";

    /// Every type this service publishes.
    pub const PUBLISHED: [&str; 14] = [
        SYNC_STARTED,
        SYNC_COMPLETED,
        SYNC_FAILED,
        SYNC_CANCELLED,
        DATA_RAW,
        DATA_RAW_BATCH,
        DATA_DELETED,
        OPPORTUNITY_UPDATED,
        CONFLICT_DETECTED,
        DATA_SYNCED,
        SYNC_CHECK_DUE,
        TOKEN_CHECK_EXPIRING,
        TOKEN_REFRESHED,
        TOKEN_REFRESH_FAILED,
    ];
}

pub const ENVELOPE_VERSION: &str = "1.0";
pub const SERVICE_NAME: &str = "integration-sync";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSource {
    pub service: String,
    pub instance: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// `{ id, type, version, timestamp, tenantId, source, data, metadata }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventEnvelope<D> {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: String,
    #[serde(with = "iso_millis")]
    pub timestamp: DateTime<Utc>,
    pub tenant_id: TenantId,
    pub source: EventSource,
    pub data: D,
    #[serde(default)]
    pub metadata: EventMetadata,
}

/// The same JSON as [`EventEnvelope`], from borrowed parts.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeRef<'a, D> {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: &'a str,
    version: &'a str,
    #[serde(with = "iso_millis")]
    timestamp: DateTime<Utc>,
    tenant_id: TenantId,
    source: &'a EventSource,
    data: D,
    metadata: &'a EventMetadata,
}

/// A serialised event ready for the bus.
#[derive(Debug, Clone)]
pub struct OutboundEvent {
    pub id: Uuid,
    pub event_type: &'static str,
    pub tenant_id: TenantId,
    pub correlation_id: Option<String>,
    pub body: bytes::Bytes,
}

/// Stamps envelopes with this instance's identity and serialises them.
#[derive(Debug, Clone)]
pub struct EventFactory {
    source: EventSource,
}

impl EventFactory {
    pub fn new(instance: impl Into<String>) -> Self {
        EventFactory {
            source: EventSource {
                service: SERVICE_NAME.to_owned(),
                instance: instance.into(),
            },
        }
    }

    pub fn build<D: Serialize>(
        &self,
        event_type: &'static str,
        tenant_id: TenantId,
        data: D,
        metadata: &EventMetadata,
    ) -> OutboundEvent {
        self.build_with_id(Uuid::new_v4(), event_type, tenant_id, data, metadata)
    }

    /// An event whose id the caller derived (see [`stable_event_id`]), so the
    /// same fact published again after a crash carries the same id.
    pub fn build_with_id<D: Serialize>(
        &self,
        id: Uuid,
        event_type: &'static str,
        tenant_id: TenantId,
        data: D,
        metadata: &EventMetadata,
    ) -> OutboundEvent {
        // Borrowed, not an owned EventEnvelope: this runs once per published
        // event, and the envelope's strings need not be copied to be written.
        let envelope = EnvelopeRef {
            id,
            event_type,
            version: ENVELOPE_VERSION,
            timestamp: Utc::now(),
            tenant_id,
            source: &self.source,
            data,
            metadata,
        };
        // Serialising our own structs with string keys cannot fail.
        let body = serde_json::to_vec(&envelope).expect("event envelopes always serialise");
        OutboundEvent {
            id: envelope.id,
            event_type,
            tenant_id,
            correlation_id: metadata.correlation_id.clone(),
            body: body.into(),
        }
    }
}

/// Namespace of the ids derived by [`stable_event_id`].
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_0c2e_93b4_4d7a_8e55_1c0f_d2b3_a917);

/// An event id derived from what the event states: the same record version
/// published twice by one task (a run resumed after a crash) gets the same id,
/// so consumers that deduplicate on ids see a redelivery, not a new fact.
pub fn stable_event_id(event_type: &str, parts: &[&[u8]]) -> Uuid {
    let mut name = Vec::with_capacity(64);
    name.extend_from_slice(event_type.as_bytes());
    for part in parts {
        name.push(0);
        name.extend_from_slice(part);
    }
    Uuid::new_v5(&EVENT_ID_NAMESPACE, &name)
}

impl OutboundEvent {
    /// The event as an outbox entry.
    pub fn to_pending(&self) -> PendingEvent {
        PendingEvent {
            id: self.id,
            event_type: self.event_type.to_owned(),
            // Our own serialised envelope always parses back.
            envelope: serde_json::from_slice(&self.body).expect("our envelopes are JSON"),
        }
    }

    /// An outbox entry back as the same event (same id and body); `None` for
    /// an event type this service does not publish (a foreign write).
    pub fn from_pending(pending: &PendingEvent) -> Option<OutboundEvent> {
        let event_type = types::PUBLISHED
            .iter()
            .find(|t| **t == pending.event_type)?;
        let tenant_id = pending.envelope.get("tenantId")?.as_str()?.parse().ok()?;
        let correlation_id = pending
            .envelope
            .pointer("/metadata/correlationId")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        Some(OutboundEvent {
            id: pending.id,
            event_type,
            tenant_id,
            correlation_id,
            body: serde_json::to_vec(&pending.envelope).ok()?.into(),
        })
    }
}

mod iso_millis {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStarted<'a> {
    pub task_id: Uuid,
    pub execution_id: Uuid,
    pub integration_id: &'a str,
    pub direction: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncCompleted<'a> {
    pub task_id: Uuid,
    pub integration_id: &'a str,
    pub execution_id: Uuid,
    #[serde(flatten)]
    pub counters: RecordCounters,
    pub entity_types: &'a [String],
    pub cursors: &'a std::collections::BTreeMap<String, String>,
    pub more_remaining: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncCancelled<'a> {
    pub task_id: Uuid,
    pub integration_id: &'a str,
    pub execution_id: Uuid,
    #[serde(flatten)]
    pub counters: RecordCounters,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncFailed<'a> {
    pub task_id: Uuid,
    pub integration_id: &'a str,
    pub execution_id: Uuid,
    pub error: &'a str,
}

/// Metadata carried inside data events, for processors that trace a record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordMetadata<'a> {
    pub execution_id: Uuid,
    pub provider: &'a str,
    pub direction: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<String>,
    /// `created` or `updated` (relative to what this integration last synced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<&'static str>,
}

/// A record the provider deleted; its state is now a tombstone.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataDeleted<'a> {
    pub integration_id: &'a str,
    pub tenant_id: TenantId,
    pub entity_type: &'a str,
    pub external_id: &'a str,
    pub deleted_at: String,
    pub sync_task_id: Uuid,
    pub idempotency_key: String,
    pub correlation_id: String,
    pub metadata: RecordMetadata<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataRaw<'a> {
    pub integration_id: &'a str,
    pub tenant_id: TenantId,
    pub entity_type: &'a str,
    pub raw_data: &'a RawValue,
    pub external_id: &'a str,
    pub sync_task_id: Uuid,
    pub idempotency_key: String,
    pub correlation_id: String,
    pub metadata: RecordMetadata<'a>,
    /// For updates: what changed since the last sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<&'a [serde_json::Value]>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecord<'a> {
    pub raw_data: &'a RawValue,
    pub external_id: &'a str,
    pub idempotency_key: String,
    pub change: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<&'a [serde_json::Value]>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataRawBatch<'a> {
    pub integration_id: &'a str,
    pub tenant_id: TenantId,
    pub entity_type: &'a str,
    pub records: Vec<BatchRecord<'a>>,
    pub batch_size: usize,
    pub sync_task_id: Uuid,
    pub correlation_id: String,
    pub metadata: RecordMetadata<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpportunityUpdated<'a> {
    pub integration_id: &'a str,
    pub tenant_id: TenantId,
    pub opportunity_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_id: Option<&'a str>,
    pub sync_task_id: Uuid,
    pub correlation_id: String,
    pub metadata: RecordMetadata<'a>,
}

/// `{integrationId}-{externalId}-{syncTaskId}`, as processors deduplicate on it.
pub fn idempotency_key(integration_id: &str, external_id: &str, sync_task_id: Uuid) -> String {
    format!("{integration_id}-{external_id}-{sync_task_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_has_every_contract_field() {
        let factory = EventFactory::new("instance-1");
        let metadata = EventMetadata {
            correlation_id: Some("corr".into()),
            causation_id: None,
            user_id: Some("user-1".into()),
        };
        let tenant = Uuid::new_v4();
        let event = factory.build(
            types::SYNC_COMPLETED,
            tenant,
            SyncCompleted {
                task_id: Uuid::nil(),
                integration_id: "int",
                execution_id: Uuid::nil(),
                counters: RecordCounters {
                    records_processed: 3,
                    ..Default::default()
                },
                entity_types: &[],
                cursors: &Default::default(),
                more_remaining: false,
            },
            &metadata,
        );
        let json: serde_json::Value = serde_json::from_slice(&event.body).unwrap();
        assert_eq!(json["type"], "integration.sync.completed");
        assert_eq!(json["version"], "1.0");
        assert_eq!(json["tenantId"], tenant.to_string());
        assert_eq!(json["source"]["service"], "integration-sync");
        assert_eq!(json["source"]["instance"], "instance-1");
        assert_eq!(json["metadata"]["correlationId"], "corr");
        assert_eq!(json["metadata"]["userId"], "user-1");
        assert_eq!(json["data"]["recordsProcessed"], 3);
        assert_eq!(json["id"], event.id.to_string());
        let ts = json["timestamp"].as_str().unwrap();
        assert!(
            DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z'),
            "{ts}"
        );
    }

    #[test]
    fn the_idempotency_key_follows_the_contract() {
        let task = Uuid::nil();
        assert_eq!(
            idempotency_key("int", "ext-1", task),
            format!("int-ext-1-{task}")
        );
    }
}

/// `integration.data.synced`: a change went out to the external system.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSynced<'a> {
    pub shard_id: &'a str,
    pub direction: &'static str,
    pub integration_id: &'a str,
    pub external_id: &'a str,
    pub entity_type: &'a str,
    pub changes: Vec<serde_json::Value>,
}

/// `integration.conflict.detected`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictDetected<'a> {
    pub conflict_id: Uuid,
    pub task_id: Uuid,
    pub entity_id: &'a str,
    pub entity_type: &'a str,
    pub strategy: &'a str,
    pub integration_id: &'a str,
    pub fields: Vec<&'a str>,
}

/// The platform's `shard.updated`, as far as outbound sync needs it.
#[derive(Debug, Clone)]
pub struct ShardUpdated {
    pub event_id: Option<String>,
    pub tenant_id: TenantId,
    pub shard_id: String,
    pub shard: Option<super::shard::Shard>,
    pub correlation_id: Option<String>,
}

impl ShardUpdated {
    /// Reads the envelope's `data` (`shardId` or `id`, maybe the shard itself).
    pub fn from_envelope(envelope: &EventEnvelope<serde_json::Value>) -> Result<Self, String> {
        let data = &envelope.data;
        let shard: Option<super::shard::Shard> = data
            .get("shard")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .or_else(|| {
                data.get("data")
                    .and_then(|_| serde_json::from_value(data.clone()).ok())
            });
        let shard_id = data
            .get("shardId")
            .or_else(|| data.get("id"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .or_else(|| shard.as_ref().map(|s| s.id.clone()))
            .ok_or("shard.updated carries no shardId")?;
        Ok(ShardUpdated {
            event_id: Some(envelope.id.to_string()),
            tenant_id: envelope.tenant_id,
            shard_id,
            shard,
            correlation_id: envelope.metadata.correlation_id.clone(),
        })
    }
}

#[cfg(test)]
mod outbox_tests {
    use super::*;

    #[test]
    fn an_event_survives_the_outbox_unchanged() {
        let factory = EventFactory::new("instance-1");
        let metadata = EventMetadata {
            correlation_id: Some("corr-9".into()),
            ..Default::default()
        };
        let tenant = Uuid::new_v4();
        let event = factory.build(
            types::SYNC_COMPLETED,
            tenant,
            serde_json::json!({"taskId": "t-1"}),
            &metadata,
        );
        let back = OutboundEvent::from_pending(&event.to_pending()).expect("a published type");
        assert_eq!(back.id, event.id);
        assert_eq!(back.event_type, types::SYNC_COMPLETED);
        assert_eq!(back.tenant_id, tenant);
        assert_eq!(back.correlation_id.as_deref(), Some("corr-9"));
        let (a, b): (serde_json::Value, serde_json::Value) = (
            serde_json::from_slice(&back.body).unwrap(),
            serde_json::from_slice(&event.body).unwrap(),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn an_outbox_entry_of_a_foreign_type_is_not_published() {
        let pending = PendingEvent {
            id: Uuid::new_v4(),
            event_type: "someone.else".into(),
            envelope: serde_json::json!({"tenantId": Uuid::new_v4()}),
        };
        assert!(OutboundEvent::from_pending(&pending).is_none());
    }

    #[test]
    fn stable_ids_depend_on_every_part_and_its_boundaries() {
        let id = stable_event_id(types::DATA_RAW, &[b"int-1-rec-1-task", b"2026"]);
        assert_eq!(
            id,
            stable_event_id(types::DATA_RAW, &[b"int-1-rec-1-task", b"2026"])
        );
        assert_ne!(
            id,
            stable_event_id(types::DATA_RAW, &[b"int-1-rec-1-task", b"2027"])
        );
        assert_ne!(
            id,
            stable_event_id(types::DATA_RAW_BATCH, &[b"int-1-rec-1-task", b"2026"])
        );
        assert_ne!(
            stable_event_id(types::DATA_RAW, &[b"ab", b"c"]),
            stable_event_id(types::DATA_RAW, &[b"a", b"bc"])
        );
    }
}
