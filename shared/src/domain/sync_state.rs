//! What the service remembers between syncs, per record and per entity type.
//!
//! A [`RecordState`] holds the content hash of the record as last synced (so an
//! unchanged record publishes nothing), its provider modification time, the
//! snapshot itself (the base a three-way merge compares both sides against) and
//! a tombstone once the provider deleted it. An [`EntityCursor`] holds how far
//! inbound syncs of one entity type got, as a compound (modified time, id).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use uuid::Uuid;
use xxhash_rust::xxh3::xxh3_128;

use super::TenantId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordState {
    pub id: String,
    pub tenant_id: TenantId,
    pub integration_id: String,
    pub entity_type: String,
    pub external_id: String,
    pub content_hash: String,
    /// Hash of the provider's bytes exactly as last received: when the next
    /// read is byte-identical the record is unchanged without parsing it.
    /// Absent when the snapshot did not come verbatim from the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_hash: Option<String>,
    #[serde(with = "super::time")]
    pub modified_at: DateTime<Utc>,
    /// The record as last synced; the base of a three-way merge.
    pub snapshot: Value,
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
}

impl RecordState {
    pub fn document_id(integration_id: &str, entity_type: &str, external_id: &str) -> String {
        // Hashed: external ids may hold characters a document id may not.
        let key = format!("{integration_id}\u{1f}{entity_type}\u{1f}{external_id}");
        format!("rec-{:032x}", xxh3_128(key.as_bytes()))
    }
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
pub fn content_hash(raw: &RawValue, volatile_fields: &[&str]) -> (String, Value) {
    let mut value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
    for field in volatile_fields {
        remove_path(&mut value, field);
    }
    (hash_value(&value), value)
}

/// Hash of the provider's bytes as they are (see [`RecordState::raw_hash`]).
/// Equal bytes mean equal content, so this can only confirm "unchanged";
/// different bytes are then compared by [`content_hash`].
pub fn raw_hash(raw: &RawValue) -> String {
    format!("{:032x}", xxh3_128(raw.get().as_bytes()))
}

/// Hash of a canonical record (as [`content_hash`] returns it).
pub fn hash_value(value: &Value) -> String {
    // serde_json's Map is ordered by key (no preserve_order), so this text is canonical.
    let canonical = serde_json::to_vec(value).expect("a JSON value serialises");
    format!("{:032x}", xxh3_128(&canonical))
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
        let (a, _) = content_hash(
            &raw(r#"{"Name":"x","Amount":1,"LastModifiedDate":"2026-01-01"}"#),
            &volatile,
        );
        let (b, _) = content_hash(
            &raw(
                r#"{"Amount":1,"attributes":{"type":"Opportunity"},"Name":"x","LastModifiedDate":"2026-02-02"}"#,
            ),
            &volatile,
        );
        let (c, _) = content_hash(&raw(r#"{"Amount":2,"Name":"x"}"#), &volatile);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn nested_volatile_fields_are_ignored_too() {
        let volatile = ["updatedAt", "properties.hs_lastmodifieddate"];
        let (a, _) = content_hash(
            &raw(
                r#"{"id":"1","updatedAt":"x","properties":{"amount":"5","hs_lastmodifieddate":"1"}}"#,
            ),
            &volatile,
        );
        let (b, _) = content_hash(
            &raw(
                r#"{"id":"1","updatedAt":"y","properties":{"amount":"5","hs_lastmodifieddate":"2"}}"#,
            ),
            &volatile,
        );
        let (c, _) = content_hash(&raw(r#"{"id":"1","properties":{"amount":"6"}}"#), &volatile);
        assert_eq!(a, b);
        assert_ne!(a, c);
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
    }

    #[test]
    fn document_ids_are_short_safe_and_distinct() {
        let a = RecordState::document_id("int", "opportunity", "006/with#odd?chars");
        let b = RecordState::document_id("int", "opportunity", "006/with#odd?chars2");
        assert_ne!(a, b);
        assert!(a.len() < 64 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
