//! The platform's event envelope, the catalogue of event types, and the
//! factory that stamps and serialises what this service publishes.

pub mod catalogue;
pub mod consumed;
pub mod payloads;
pub mod platform_rule;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use super::{TenantId, task::PendingEvent};

pub use catalogue::EventType;
pub use consumed::ShardUpdated;
pub use payloads::*;

/// Routing keys as constants, for the places that need a `&str` (tests,
/// matching stored names). All derived from the catalogue.
pub mod types {
    use super::EventType;

    pub const SYNC_STARTED: &str = EventType::SyncStarted.name();
    pub const SYNC_COMPLETED: &str = EventType::SyncCompleted.name();
    pub const SYNC_FAILED: &str = EventType::SyncFailed.name();
    pub const SYNC_CANCELLED: &str = EventType::SyncCancelled.name();
    pub const DATA_RAW: &str = EventType::DataRaw.name();
    pub const DATA_RAW_BATCH: &str = EventType::DataRawBatch.name();
    pub const DATA_DELETED: &str = EventType::DataDeleted.name();
    pub const CONFLICT_DETECTED: &str = EventType::ConflictDetected.name();
    pub const DATA_SYNCED: &str = EventType::DataSynced.name();
    pub const SYNC_CHECK_DUE: &str = EventType::SyncCheckDue.name();
    pub const TOKEN_CHECK_EXPIRING: &str = EventType::TokenCheckExpiring.name();
    pub const TOKEN_REFRESHED: &str = EventType::TokenRefreshed.name();
    pub const TOKEN_REFRESH_FAILED: &str = EventType::TokenRefreshFailed.name();
}

pub const ENVELOPE_VERSION: &str = "1.0";
pub const SERVICE_NAME: &str = "integration-sync";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSource {
    pub service: String,
    pub instance: String,
}

/// `metadata`: the platform's rule wants each id a uuid when present (and
/// absent rather than `null`), so they are uuids by type. Read leniently:
/// another publisher's non-uuid id is dropped, not a reason to refuse its event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMetadata {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_uuid"
    )]
    pub correlation_id: Option<Uuid>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_uuid"
    )]
    pub causation_id: Option<Uuid>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_uuid"
    )]
    pub user_id: Option<Uuid>,
}

fn lenient_uuid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(value
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok()))
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
    #[serde(default, deserialize_with = "metadata_or_default")]
    pub metadata: EventMetadata,
}

fn metadata_or_default<'de, D: Deserializer<'de>>(d: D) -> Result<EventMetadata, D::Error> {
    Ok(Option::<EventMetadata>::deserialize(d)?.unwrap_or_default())
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
    /// The routing key.
    pub event_type: &'static str,
    pub tenant_id: TenantId,
    pub correlation_id: Option<Uuid>,
    pub body: bytes::Bytes,
}

/// Stamps envelopes with this instance's identity and serialises them.
#[derive(Debug, Clone)]
pub struct EventFactory {
    source: EventSource,
    /// The routing key of `DataRawBatch` (`mapping.batch_event_type`).
    batch_event_type: &'static str,
}

impl EventFactory {
    pub fn new(instance: impl Into<String>) -> Self {
        EventFactory {
            source: EventSource {
                service: SERVICE_NAME.to_owned(),
                instance: instance.into(),
            },
            batch_event_type: EventType::DataRawBatch.name(),
        }
    }

    /// Batches go out under `name` (a platform that binds another spelling).
    pub fn with_batch_event_type(mut self, name: &'static str) -> Self {
        self.batch_event_type = name;
        self
    }

    /// The routing key `event_type` goes out under.
    pub fn routing_key(&self, event_type: EventType) -> &'static str {
        match event_type {
            EventType::DataRawBatch => self.batch_event_type,
            other => other.name(),
        }
    }

    pub fn build<D: Serialize>(
        &self,
        event_type: EventType,
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
        event_type: EventType,
        tenant_id: TenantId,
        data: D,
        metadata: &EventMetadata,
    ) -> OutboundEvent {
        self.build_sized(id, event_type, tenant_id, data, metadata, 1024)
    }

    /// [`build_with_id`](Self::build_with_id) into a body of `capacity`
    /// bytes to start with: a batch event (~50 KiB) grown from nothing was
    /// copied about twice over as it doubled.
    pub fn build_sized<D: Serialize>(
        &self,
        id: Uuid,
        event_type: EventType,
        tenant_id: TenantId,
        data: D,
        metadata: &EventMetadata,
        capacity: usize,
    ) -> OutboundEvent {
        debug_assert!(
            event_type.is_published(),
            "{event_type} is not ours to publish"
        );
        let event_type = self.routing_key(event_type);
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
        let mut body = Vec::with_capacity(capacity);
        serde_json::to_writer(&mut body, &envelope).expect("event envelopes always serialise");
        OutboundEvent {
            id: envelope.id,
            event_type,
            tenant_id,
            correlation_id: metadata.correlation_id,
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
        let event_type = EventType::published(&pending.event_type)?.name();
        let tenant_id = pending.envelope.get("tenantId")?.as_str()?.parse().ok()?;
        let correlation_id = pending
            .envelope
            .pointer("/metadata/correlationId")
            .and_then(|v| v.as_str())
            .and_then(|v| Uuid::parse_str(v).ok());
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

/// `{integrationId}-{externalId}-{syncTaskId}`, as processors deduplicate on it.
/// Built by pushing (one per published record: `format!`'s machinery
/// showed in first-sync profiles).
pub fn idempotency_key(integration_id: &str, external_id: &str, sync_task_id: Uuid) -> String {
    let mut uuid = Uuid::encode_buffer();
    let uuid = sync_task_id.hyphenated().encode_lower(&mut uuid);
    let mut key = String::with_capacity(integration_id.len() + external_id.len() + uuid.len() + 2);
    for part in [integration_id, "-", external_id, "-", uuid] {
        key.push_str(part);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::RecordCounters;

    #[test]
    fn an_envelope_has_every_contract_field_and_passes_the_platform_rule() {
        let factory = EventFactory::new("instance-1");
        let (correlation, user) = (Uuid::new_v4(), Uuid::new_v4());
        let metadata = EventMetadata {
            correlation_id: Some(correlation),
            causation_id: None,
            user_id: Some(user),
        };
        let tenant = Uuid::new_v4();
        let event = factory.build(
            EventType::SyncCompleted,
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
        assert_eq!(json["metadata"]["correlationId"], correlation.to_string());
        assert_eq!(json["metadata"]["userId"], user.to_string());
        assert!(
            json["metadata"].get("causationId").is_none(),
            "absent, never null"
        );
        assert_eq!(platform_rule::violations(&json), Vec::<String>::new());
        assert_eq!(json["data"]["recordsProcessed"], 3);
        assert_eq!(json["id"], event.id.to_string());
        let ts = json["timestamp"].as_str().unwrap();
        assert!(
            DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z'),
            "{ts}"
        );
    }

    #[test]
    fn incoming_metadata_ids_that_are_not_uuids_are_dropped_not_fatal() {
        let envelope: EventEnvelope<serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "id": Uuid::new_v4(), "type": "shard.updated", "version": "1.0",
                "timestamp": "2026-12-01T10:00:00.000Z", "tenantId": Uuid::new_v4(),
                "source": {"service": "shard-manager", "instance": "i"}, "data": {},
                "metadata": {"correlationId": "not-a-uuid", "userId": null}
            }))
            .unwrap();
        assert_eq!(envelope.metadata, EventMetadata::default());
        let without: EventEnvelope<serde_json::Value> = serde_json::from_value(serde_json::json!({
            "id": Uuid::new_v4(), "type": "shard.updated", "version": "1.0",
            "timestamp": "2026-12-01T10:00:00.000Z", "tenantId": Uuid::new_v4(),
            "source": {"service": "shard-manager", "instance": "i"}, "data": {}, "metadata": null
        }))
        .unwrap();
        assert_eq!(without.metadata, EventMetadata::default());
    }

    #[test]
    fn batches_go_out_under_the_configured_routing_key() {
        let factory = EventFactory::new("i").with_batch_event_type("integration.data.raw.batch");
        let event = factory.build(
            EventType::DataRawBatch,
            Uuid::new_v4(),
            serde_json::json!({}),
            &EventMetadata::default(),
        );
        assert_eq!(event.event_type, "integration.data.raw.batch");
        assert_eq!(
            EventFactory::new("i").routing_key(EventType::DataRawBatch),
            "integration.data.raw_batch"
        );
    }

    #[test]
    fn the_idempotency_key_follows_the_contract() {
        let task = Uuid::new_v4();
        assert_eq!(
            idempotency_key("int", "ext-1", task),
            format!("int-ext-1-{task}")
        );
        assert_eq!(idempotency_key("", "", task), format!("--{task}"));
    }
}

#[cfg(test)]
mod outbox_tests {
    use super::*;

    #[test]
    fn an_event_survives_the_outbox_unchanged() {
        let factory = EventFactory::new("instance-1");
        let correlation = Uuid::new_v4();
        let metadata = EventMetadata {
            correlation_id: Some(correlation),
            ..Default::default()
        };
        let tenant = Uuid::new_v4();
        let event = factory.build(
            EventType::SyncCompleted,
            tenant,
            serde_json::json!({"taskId": "t-1"}),
            &metadata,
        );
        let back = OutboundEvent::from_pending(&event.to_pending()).expect("a published type");
        assert_eq!(back.id, event.id);
        assert_eq!(back.event_type, types::SYNC_COMPLETED);
        assert_eq!(back.tenant_id, tenant);
        assert_eq!(back.correlation_id, Some(correlation));
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
