//! A [`RecordState`] and its head as JSON text, written field by field.
//!
//! Every changed record writes one state: through serde that was ~6 % of a
//! first sync's CPU, most of it escape scans of strings that never need an
//! escape (ids, hashes, names). Here a string is copied as it is when a
//! single scan finds nothing to escape, and anything else goes through
//! serde_json, so the text is byte for byte serde's own (the tests hold it
//! against `serde_json::to_string`).

use uuid::Uuid;

use super::RecordState;
use crate::domain::time;

impl RecordState {
    /// Appends the state's JSON text to `out`: the same bytes as
    /// `serde_json::to_writer(out, self)`.
    pub fn write_text(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        // Every field by name, none left to `..`: a field added to the
        // state does not compile here until it is written too.
        let RecordState {
            id,
            tenant_id,
            integration_id,
            entity_type,
            external_id,
            content_hash,
            raw_hash,
            modified_at,
            snapshot,
            deleted,
            synced_at,
            last_task_id,
            shard_id,
            last_correlation_id,
            outbox,
        } = self;
        out.push(b'{');
        key(out, "id", true);
        string(out, id)?;
        key(out, "tenantId", false);
        uuid(out, tenant_id);
        key(out, "integrationId", false);
        string(out, integration_id)?;
        key(out, "entityType", false);
        string(out, entity_type)?;
        key(out, "externalId", false);
        string(out, external_id)?;
        optional_string(out, "contentHash", content_hash.as_deref())?;
        optional_string(out, "rawHash", raw_hash.as_deref())?;
        key(out, "modifiedAt", false);
        timestamp(out, modified_at);
        if let Some(snapshot) = snapshot {
            key(out, "snapshot", false);
            out.extend_from_slice(snapshot.get().as_bytes());
        }
        key(out, "deleted", false);
        boolean(out, *deleted);
        key(out, "syncedAt", false);
        timestamp(out, synced_at);
        key(out, "lastTaskId", false);
        uuid(out, last_task_id);
        optional_string(out, "shardId", shard_id.as_deref())?;
        optional_string(out, "lastCorrelationId", last_correlation_id.as_deref())?;
        if !outbox.is_empty() {
            key(out, "outbox", false);
            serde_json::to_writer(&mut *out, outbox)?;
        }
        out.push(b'}');
        Ok(())
    }

    /// The state's head as JSON text: what a store's `read_many_fields` of
    /// [`RecordHead::FIELDS`](super::RecordHead::FIELDS) answers for it.
    pub fn head_text(&self) -> String {
        let mut out = Vec::with_capacity(self.external_id.len() + 80);
        self.write_head(&mut out).expect("a string serialises");
        String::from_utf8(out).expect("JSON text of strings is UTF-8")
    }

    fn write_head(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        out.push(b'{');
        key(out, "externalId", true);
        string(out, &self.external_id)?;
        optional_string(out, "rawHash", self.raw_hash.as_deref())?;
        key(out, "deleted", false);
        boolean(out, self.deleted);
        out.push(b'}');
        Ok(())
    }
}

/// `"name":`, after a comma unless it is the object's first key. Names are
/// ours and need no escape.
fn key(out: &mut Vec<u8>, name: &str, first: bool) {
    if !first {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// A JSON string: copied as it is when nothing in it needs an escape
/// (what serde_json escapes: control characters, `"` and `\`), else
/// serde_json's own text.
fn string(out: &mut Vec<u8>, value: &str) -> Result<(), serde_json::Error> {
    // A fold without an early exit: the compiler checks 16 or 32 bytes a step.
    let escapes = value.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if escapes {
        return serde_json::to_writer(&mut *out, value);
    }
    out.push(b'"');
    out.extend_from_slice(value.as_bytes());
    out.push(b'"');
    Ok(())
}

/// `,"name":"value"` when there is a value (serde's `skip_serializing_if =
/// "Option::is_none"`), nothing when there is none.
fn optional_string(
    out: &mut Vec<u8>,
    name: &str,
    value: Option<&str>,
) -> Result<(), serde_json::Error> {
    match value {
        Some(value) => {
            key(out, name, false);
            string(out, value)
        }
        None => Ok(()),
    }
}

fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

fn uuid(out: &mut Vec<u8>, value: &Uuid) {
    let mut text = Uuid::encode_buffer();
    out.push(b'"');
    out.extend_from_slice(value.hyphenated().encode_lower(&mut text).as_bytes());
    out.push(b'"');
}

/// A timestamp's text holds digits and separators only: nothing to escape.
fn timestamp(out: &mut Vec<u8>, value: &chrono::DateTime<chrono::Utc>) {
    time::with_text(value, |text| {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    });
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use proptest::prelude::*;
    use serde_json::value::RawValue;

    use super::*;
    use crate::domain::task::PendingEvent;

    fn at(seconds: i64, micros: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, micros * 1_000).unwrap()
    }

    /// Strings with and without what JSON escapes, non-ASCII included.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9_.-]{0,24}",
            "[\\x00-\\x1f\"\\\\a-z\u{e9}\u{1F600}]{0,12}",
            any::<String>(),
        ]
    }

    prop_compose! {
        fn state()(
            id in text(), integration in text(), entity in text(), external in text(),
            content_hash in proptest::option::of(text()),
            raw_hash in proptest::option::of(text()),
            snapshot in proptest::option::of(text()),
            deleted in any::<bool>(),
            shard in proptest::option::of(text()),
            correlation in proptest::option::of(text()),
            events in 0usize..3,
            // Years 1970-9999 and a few past the stack writer's range.
            seconds in prop_oneof![0i64..253_402_300_799, 253_402_300_800i64..300_000_000_000],
            micros in 0u32..1_000_000,
            ids in any::<(u128, u128)>(),
        ) -> RecordState {
            RecordState {
                id,
                tenant_id: Uuid::from_u128(ids.0),
                integration_id: integration,
                entity_type: entity,
                external_id: external,
                content_hash,
                raw_hash,
                modified_at: at(seconds, micros),
                // A snapshot is JSON text: a string value stands for any.
                snapshot: snapshot.map(|s| {
                    RawValue::from_string(serde_json::to_string(&s).unwrap()).unwrap()
                }),
                deleted,
                synced_at: at(seconds / 2, micros / 3),
                last_task_id: Uuid::from_u128(ids.1),
                shard_id: shard,
                last_correlation_id: correlation,
                outbox: (0..events)
                    .map(|i| PendingEvent {
                        id: Uuid::from_u128(ids.0 ^ i as u128),
                        event_type: "integration.data.synced".into(),
                        envelope: serde_json::json!({"n": i, "s": "a\"b"}),
                    })
                    .collect(),
            }
        }
    }

    proptest! {
        #[test]
        fn a_state_is_written_as_serde_writes_it(state in state()) {
            let mut written = b"prefix".to_vec();
            state.write_text(&mut written).unwrap();
            let expected = format!("prefix{}", serde_json::to_string(&state).unwrap());
            prop_assert_eq!(String::from_utf8(written).unwrap(), expected);
        }

        #[test]
        fn a_head_is_the_states_head_fields_as_serde_writes_them(state in state()) {
            #[derive(serde::Serialize)]
            #[serde(rename_all = "camelCase")]
            struct Head<'a> {
                external_id: &'a str,
                #[serde(skip_serializing_if = "Option::is_none")]
                raw_hash: Option<&'a str>,
                deleted: bool,
            }
            let expected = serde_json::to_string(&Head {
                external_id: &state.external_id,
                raw_hash: state.raw_hash.as_deref(),
                deleted: state.deleted,
            })
            .unwrap();
            prop_assert_eq!(state.head_text(), expected);
        }
    }
}
