//! What the service remembers between syncs, per record and per entity type.
//!
//! A [`RecordState`] holds the content hash of the record as last synced (so an
//! unchanged record publishes nothing), its provider modification time, the
//! snapshot itself where a merge needs it (the base a three-way merge compares
//! both sides against: integrations that sync outbound) and a tombstone once
//! the provider deleted it. An [`EntityCursor`] holds how far
//! inbound syncs of one entity type got, as a compound (modified time, id).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use uuid::Uuid;
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use super::{TenantId, task::PendingEvent};

mod text;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordState {
    pub id: String,
    pub tenant_id: TenantId,
    pub integration_id: String,
    pub entity_type: String,
    pub external_id: String,
    /// Hash of the content without volatile fields, in canonical key order.
    /// Computed only when it is first needed (bytes that differ from the
    /// last read): a first sight stores the provider's bytes and their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// Hash of the provider's bytes exactly as last received: when the next
    /// read is byte-identical the record is unchanged without parsing it.
    /// Absent when the snapshot did not come verbatim from the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_hash: Option<String>,
    #[serde(with = "super::time")]
    pub modified_at: DateTime<Utc>,
    /// The record as last synced, as JSON text; the base of a three-way merge
    /// (see [`snapshot_value`](Self::snapshot_value)). Kept as text so
    /// reading and writing a state never builds a JSON tree of the record.
    /// Kept only where a merge needs a base (the integration syncs outbound,
    /// [`keeps_snapshots`]): it is most of a state's bytes, and writing it
    /// was most of an inbound sync's store cost. A state without one has no
    /// change set for its next update, and an outbound merge against it
    /// knows its base only when the provider's record has not moved since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Box<RawValue>>,
    pub deleted: bool,
    #[serde(with = "super::time")]
    pub synced_at: DateTime<Utc>,
    pub last_task_id: Uuid,
    /// The platform shard holding this record, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_id: Option<String>,
    /// Correlation id of the run that last wrote this record to either side:
    /// a `shard.updated` carrying it is our own write coming back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_correlation_id: Option<String>,
    /// Events an outbound write implies (`integration.data.synced`, the
    /// merged record to the platform), written with the state that records
    /// the write and removed once the broker confirmed them: a crash between
    /// the two leaves them here, and the redelivered `shard.updated`
    /// publishes them (same ids) before anything else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<PendingEvent>,
}

impl RecordState {
    /// `rec-<scope>-e<external id>`: see [`StateIds`].
    pub fn document_id(integration_id: &str, entity_type: &str, external_id: &str) -> String {
        StateIds::new(integration_id, entity_type).id(external_id)
    }

    /// The snapshot as a JSON value without the provider's volatile fields.
    pub fn snapshot_value(&self, volatile_fields: &[&str]) -> Option<Value> {
        self.snapshot
            .as_deref()
            .map(|raw| canonical(raw, volatile_fields))
    }

    /// The stored content hash, or the one of the snapshot; `None` for a
    /// first sight kept without a snapshot (its hash was never needed).
    pub fn content_hash_of(&self, volatile_fields: &[&str]) -> Option<String> {
        match &self.content_hash {
            Some(hash) => Some(hash.clone()),
            None => self.snapshot_value(volatile_fields).map(|v| hash_value(&v)),
        }
    }
}

/// Whether an integration's record states keep their snapshots: only one
/// that syncs outbound merges against them.
pub fn keeps_snapshots(integration: &super::Integration) -> bool {
    integration.syncs_outbound()
}

/// What unchanged detection reads of a stored [`RecordState`]: whether the
/// provider's bytes are the same as last time, without the snapshot (most
/// of a state's size). Only a record whose bytes differ has its whole state read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordHead {
    pub external_id: String,
    #[serde(default)]
    pub raw_hash: Option<String>,
    #[serde(default)]
    pub deleted: bool,
}

impl RecordHead {
    /// The fields of a stored state a head is read from.
    pub const FIELDS: &'static [&'static str] = &["externalId", "rawHash", "deleted"];

    /// A live record last read with exactly these bytes.
    pub fn same_bytes(&self, bytes: &str) -> bool {
        !self.deleted && self.raw_hash.as_deref() == Some(bytes)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The ids of one (integration, entity type)'s record states,
/// `rec-<scope>-e<external id>`: a hash of (integration, entity type), then
/// the external id with every byte a document id may not hold (or that is
/// not plainly printable) escaped as `~xx`. States of one entity type thus
/// sit together in the order of the provider's ids, and a store's index
/// grows at its end while a provider hands out ids in order (hashed ids made
/// every insert touch a random index page). Ids too long to embed are
/// hashed: `rec-<scope>-h<hash>`. The scope is hashed once for a page's ids.
pub struct StateIds {
    /// `rec-<scope>-`
    prefix: String,
}

impl StateIds {
    pub fn new(integration_id: &str, entity_type: &str) -> StateIds {
        let mut scope = Xxh3::new();
        scope.update(integration_id.as_bytes());
        scope.update(b"\x1f");
        scope.update(entity_type.as_bytes());
        StateIds {
            prefix: format!("rec-{:016x}-", scope.digest()),
        }
    }

    pub fn id(&self, external_id: &str) -> String {
        const EMBEDDED_MAX: usize = 200;
        let mut id = String::with_capacity(self.prefix.len() + 1 + external_id.len());
        id.push_str(&self.prefix);
        id.push('e');
        for byte in external_id.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
                id.push(char::from(byte));
            } else {
                let [high, low] = hex_digits(byte);
                id.push('~');
                id.push(char::from(high));
                id.push(char::from(low));
            }
            if id.len() > EMBEDDED_MAX {
                id.truncate(self.prefix.len());
                id.push('h');
                id.push_str(Hash128Hex::of(external_id.as_bytes()).as_str());
                break;
            }
        }
        id
    }
}

/// A byte's two lowercase hex digits.
fn hex_digits(byte: u8) -> [u8; 2] {
    [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]
}

/// A 128-bit hash as 32 hex digits, held without an allocation (written
/// from a table: the `hex` crate's iterator pushed one `char` at a time,
/// which showed in profiles at a hash per record).
pub struct Hash128Hex([u8; 32]);

impl Hash128Hex {
    fn of(bytes: &[u8]) -> Hash128Hex {
        let mut hex = [0u8; 32];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(xxh3_128(bytes).to_be_bytes()) {
            pair.copy_from_slice(&hex_digits(byte));
        }
        Hash128Hex(hex)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

/// A JSON value as text (for [`RecordState::snapshot`]).
pub fn raw_json(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("a JSON value serialises")
}

/// Where inbound syncs of one entity type of one integration stand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityCursor {
    pub id: String,
    pub tenant_id: TenantId,
    pub integration_id: String,
    pub entity_type: String,
    #[serde(default)]
    pub position: Option<CursorPosition>,
    /// Live (not deleted) records known; the mass-delete breaker's base.
    #[serde(default)]
    pub known_records: u64,
    /// For a provider without a change window (it cannot read "modified
    /// since"): the page the last run stopped before, so the next run goes on
    /// from there instead of the start. `None` once a walk reached the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_page: Option<String>,
    #[serde(with = "super::time")]
    pub updated_at: DateTime<Utc>,
}

impl EntityCursor {
    pub fn document_id(integration_id: &str, entity_type: &str) -> String {
        let key = format!("{integration_id}\u{1f}{entity_type}");
        format!("cur-{:032x}", xxh3_128(key.as_bytes()))
    }

    pub fn new(tenant_id: TenantId, integration_id: &str, entity_type: &str) -> Self {
        EntityCursor {
            id: Self::document_id(integration_id, entity_type),
            tenant_id,
            integration_id: integration_id.to_owned(),
            entity_type: entity_type.to_owned(),
            position: None,
            known_records: 0,
            resume_page: None,
            updated_at: super::time::now(),
        }
    }
}

/// A point in a provider's modification order: records are ordered by
/// modification time, then id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CursorPosition {
    #[serde(with = "super::time")]
    pub modified_at: DateTime<Utc>,
    pub external_id: String,
}

impl CursorPosition {
    /// The position as a borrowed key, ordered as positions are.
    pub fn key(&self) -> (DateTime<Utc>, &str) {
        (self.modified_at, &self.external_id)
    }
}

impl std::fmt::Display for CursorPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}|{}",
            super::time::format(&self.modified_at),
            self.external_id
        )
    }
}

/// Cursors reached per entity type, as tasks and events report them.
pub type CursorsReached = BTreeMap<String, String>;

/// Hash of a record's content, ignoring the provider's bookkeeping fields
/// (modification stamps, API attributes) so a save that changed nothing, or
/// our own write coming back, does not count as a change. Keys are compared
/// in sorted order, so the provider's key order does not matter either.
pub fn content_hash(raw: &RawValue, volatile_fields: &[&str]) -> String {
    hash_value(&canonical(raw, volatile_fields))
}

/// The record without its volatile fields (keys in sorted order): what
/// [`content_hash`] hashes, and what merges and change sets compare.
pub fn canonical(raw: &RawValue, volatile_fields: &[&str]) -> Value {
    let mut value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
    for field in volatile_fields {
        remove_path(&mut value, field);
    }
    value
}

/// Hash of the provider's bytes as they are (see [`RecordState::raw_hash`]).
/// Equal bytes mean equal content, so this can only confirm "unchanged";
/// different bytes are then compared by [`content_hash`].
pub fn raw_hash(raw: &RawValue) -> String {
    raw_hash_hex(raw).as_str().to_owned()
}

/// [`raw_hash`] without an allocation, to compare with a stored one.
pub fn raw_hash_hex(raw: &RawValue) -> Hash128Hex {
    Hash128Hex::of(raw.get().as_bytes())
}

/// Hash of a canonical record (as [`content_hash`] returns it).
pub fn hash_value(value: &Value) -> String {
    // serde_json's Map is ordered by key (no preserve_order), so this text is canonical.
    let canonical = serde_json::to_vec(value).expect("a JSON value serialises");
    Hash128Hex::of(&canonical).as_str().to_owned()
}

/// Removes `a.b.c` from nested objects; missing paths are ignored.
fn remove_path(value: &mut Value, path: &str) {
    let mut current = value;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Value::Object(map) = current else { return };
        if parts.peek().is_none() {
            map.remove(part);
            return;
        }
        match map.get_mut(part) {
            Some(next) => current = next,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn the_hash_ignores_key_order_and_volatile_fields() {
        let volatile = ["LastModifiedDate", "attributes"];
        let a = content_hash(
            &raw(r#"{"Name":"x","Amount":1,"LastModifiedDate":"2026-01-01"}"#),
            &volatile,
        );
        let b = content_hash(
            &raw(
                r#"{"Amount":1,"attributes":{"type":"Opportunity"},"Name":"x","LastModifiedDate":"2026-02-02"}"#,
            ),
            &volatile,
        );
        let c = content_hash(&raw(r#"{"Amount":2,"Name":"x"}"#), &volatile);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn nested_volatile_fields_are_ignored_too() {
        let volatile = ["updatedAt", "properties.hs_lastmodifieddate"];
        let a = content_hash(
            &raw(
                r#"{"id":"1","updatedAt":"x","properties":{"amount":"5","hs_lastmodifieddate":"1"}}"#,
            ),
            &volatile,
        );
        let b = content_hash(
            &raw(
                r#"{"id":"1","updatedAt":"y","properties":{"amount":"5","hs_lastmodifieddate":"2"}}"#,
            ),
            &volatile,
        );
        let c = content_hash(&raw(r#"{"id":"1","properties":{"amount":"6"}}"#), &volatile);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn a_head_is_the_projection_of_its_state_onto_the_head_fields() {
        let t = super::super::time::now();
        let state = |raw_hash: Option<&str>, deleted| RecordState {
            id: RecordState::document_id("int", "contact", "CON-\"1\""),
            tenant_id: Uuid::new_v4(),
            integration_id: "int".into(),
            entity_type: "contact".into(),
            external_id: "CON-\"1\"".into(),
            content_hash: Some("c".into()),
            raw_hash: raw_hash.map(str::to_owned),
            modified_at: t,
            snapshot: Some(raw(r#"{"externalId":"not this one"}"#)),
            deleted,
            synced_at: t,
            last_task_id: Uuid::new_v4(),
            shard_id: None,
            last_correlation_id: None,
            outbox: Vec::new(),
        };
        for state in [state(Some("r"), false), state(None, true)] {
            let body = serde_json::to_value(&state).unwrap();
            let projected: serde_json::Map<String, Value> = RecordHead::FIELDS
                .iter()
                .filter_map(|f| {
                    body.get(*f)
                        .filter(|v| !v.is_null())
                        .map(|v| ((*f).to_owned(), v.clone()))
                })
                .collect();
            let head: Value = serde_json::from_str(&state.head_text()).unwrap();
            assert_eq!(head, Value::Object(projected));
        }
    }

    #[test]
    fn cursor_positions_order_by_time_then_id() {
        let t = super::super::time::now();
        let p = |s: &str, at| CursorPosition {
            modified_at: at,
            external_id: s.into(),
        };
        assert!(p("b", t) > p("a", t));
        assert!(p("a", t + chrono::Duration::seconds(1)) > p("z", t));
        let later = t + chrono::Duration::seconds(1);
        let all = [p("a", t), p("b", t), p("a", later), p("z", t), p("a", t)];
        for a in &all {
            for b in &all {
                assert_eq!(a.key().cmp(&b.key()), a.cmp(b), "{a} against {b}");
            }
        }
    }

    #[test]
    fn ids_and_hashes_stay_what_stores_already_hold() {
        // Ids and hashes of states written by earlier versions: a change here
        // would make every stored state unfindable or every record changed.
        assert_eq!(
            RecordState::document_id("int", "contact", "CON-1/a"),
            "rec-2b5fa2eb43888345-eCON-1~2fa"
        );
        assert_eq!(
            RecordState::document_id("int", "contact", &"x".repeat(250)),
            "rec-2b5fa2eb43888345-h030fb1abf7b29081d915419fe826136d"
        );
        let raw = RawValue::from_string(r#"{"a":1}"#.into()).unwrap();
        assert_eq!(raw_hash(&raw), "3c8c141663acf5a1b6b7137162fa70fb");
        assert_eq!(raw_hash_hex(&raw).as_str(), raw_hash(&raw));
    }

    #[test]
    fn document_ids_are_safe_distinct_and_ordered_like_the_external_ids() {
        let safe = |id: &str| {
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
        };
        let a = RecordState::document_id("int", "opportunity", "006/with#odd?chars");
        let b = RecordState::document_id("int", "opportunity", "006/with#odd?chars2");
        let c = RecordState::document_id("int", "opportunity", "006~with~odd~chars");
        assert!(safe(&a) && safe(&b) && safe(&c), "{a} {b} {c}");
        assert_ne!(a, b);
        assert_ne!(a, c, "the escape character is escaped itself");
        // One scope per (integration, entity type), ids in the provider's order.
        let first = RecordState::document_id("int", "contact", "CON-000000001");
        let second = RecordState::document_id("int", "contact", "CON-000000002");
        assert!(first < second);
        assert_eq!(first[..21], second[..21]);
        assert_ne!(
            first[..21],
            RecordState::document_id("int", "account", "CON-000000001")[..21]
        );
        assert_ne!(
            first[..21],
            RecordState::document_id("int2", "contact", "CON-000000001")[..21]
        );
        // Very long ids are hashed, and still distinct and safe.
        let long = "x/".repeat(200);
        let hashed = RecordState::document_id("int", "contact", &long);
        let other = RecordState::document_id("int", "contact", &format!("{long}y"));
        assert!(hashed.len() < 64 && safe(&hashed), "{hashed}");
        assert_ne!(hashed, other);
        assert_eq!(&hashed[21..22], "h");
    }

    #[test]
    fn states_written_as_text_read_back_from_text_and_from_a_value() {
        let state = RecordState {
            id: RecordState::document_id("int", "contact", "C-1"),
            tenant_id: Uuid::nil(),
            integration_id: "int".into(),
            entity_type: "contact".into(),
            external_id: "C-1".into(),
            content_hash: None,
            raw_hash: Some("r".into()),
            modified_at: super::super::time::now(),
            snapshot: Some(raw(r#"{"Id":"C-1","LastModifiedDate":"x","Name":"n"}"#)),
            deleted: false,
            synced_at: super::super::time::now(),
            last_task_id: Uuid::nil(),
            shard_id: None,
            last_correlation_id: None,
            outbox: Vec::new(),
        };
        let text = serde_json::to_string(&state).unwrap();
        let from_text: RecordState = serde_json::from_str(&text).unwrap();
        let from_value: RecordState =
            serde_json::from_value(serde_json::from_str::<Value>(&text).unwrap()).unwrap();
        assert_eq!(
            from_text.snapshot.as_deref().map(RawValue::get),
            state.snapshot.as_deref().map(RawValue::get)
        );
        assert_eq!(
            from_value.snapshot_value(&[]),
            state.snapshot_value(&[]),
            "a store answering with a JSON value reads back the same snapshot"
        );
        assert_eq!(
            state.snapshot_value(&["LastModifiedDate"]),
            Some(serde_json::json!({"Id": "C-1", "Name": "n"}))
        );
        assert_eq!(
            state.content_hash_of(&["LastModifiedDate"]),
            Some(content_hash(&raw(r#"{"Name":"n","Id":"C-1"}"#), &[]))
        );
        let without = RecordState {
            snapshot: None,
            ..state
        };
        let text = serde_json::to_string(&without).unwrap();
        assert!(!text.contains("snapshot"), "{text}");
        let back: RecordState = serde_json::from_str(&text).unwrap();
        assert!(back.snapshot.is_none() && back.content_hash_of(&[]).is_none());
    }
}
