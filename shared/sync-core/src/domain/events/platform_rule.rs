//! The platform's envelope rule, written from its definition
//! (castiel2 `containers/shared/src/events/EventSchema.ts`, a zod 3.25 schema
//! checked by every publisher and by every consumer, which dead-letters what
//! fails). Only what the schema checks is checked here:
//!
//! - `id`: a uuid (zod's `uuid()`: 8-4-4-4-12 hex digits, any version);
//! - `type`: `^[a-z_]+\.[a-z_]+\.[a-z_]+$`;
//! - `version`: a string;
//! - `timestamp`: zod's `datetime()` without offsets: a valid calendar date,
//!   `T`, `HH:MM`, optional `:SS` with optional fraction, then `Z`;
//! - `tenantId`: a uuid or `''`;
//! - `source`: an object with string `service` and `instance`;
//! - `metadata`: absent, or an object whose `correlationId`, `causationId`
//!   and `userId` are absent or uuids (`null` is neither, so zod refuses it).
//!
//! Extra fields pass (zod strips them). The service uses it to hold its own
//! events to the rule in tests and to warn about configured names at start.

use serde_json::Value;

/// What is wrong with `envelope` by the platform's rule; empty when it passes.
pub fn violations(envelope: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let Some(fields) = envelope.as_object() else {
        return vec!["the envelope is not a JSON object".into()];
    };
    let string = |name: &str| fields.get(name).and_then(Value::as_str);
    if !string("id").is_some_and(is_uuid) {
        found.push(format!("id {:?} is not a uuid", fields.get("id")));
    }
    if !string("type").is_some_and(type_passes) {
        found.push(format!(
            "type {:?} is not three lowercase segments",
            fields.get("type")
        ));
    }
    if string("version").is_none() {
        found.push("version is not a string".into());
    }
    if !string("timestamp").is_some_and(is_zod_datetime) {
        found.push(format!(
            "timestamp {:?} is not an ISO 8601 instant ending in Z",
            fields.get("timestamp")
        ));
    }
    if !string("tenantId").is_some_and(|t| t.is_empty() || is_uuid(t)) {
        found.push(format!(
            "tenantId {:?} is neither a uuid nor ''",
            fields.get("tenantId")
        ));
    }
    let source = fields.get("source").and_then(Value::as_object);
    let source_ok = source.is_some_and(|s| {
        ["service", "instance"]
            .iter()
            .all(|k| s.get(*k).is_some_and(Value::is_string))
    });
    if !source_ok {
        found.push("source lacks a string service and instance".into());
    }
    match fields.get("metadata") {
        None => {}
        Some(Value::Object(metadata)) => {
            for key in ["correlationId", "causationId", "userId"] {
                match metadata.get(key) {
                    None => {}
                    Some(Value::String(id)) if is_uuid(id) => {}
                    Some(other) => found.push(format!("metadata.{key} {other} is not a uuid")),
                }
            }
        }
        Some(other) => found.push(format!("metadata {other} is not an object")),
    }
    found
}

/// `^[a-z_]+\.[a-z_]+\.[a-z_]+$`.
pub fn type_passes(name: &str) -> bool {
    let segments: Vec<&str> = name.split('.').collect();
    segments.len() == 3
        && segments
            .iter()
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
}

/// zod 3's uuid: `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`.
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// zod 3's `datetime()` (precision and offset unset): `YYYY-MM-DD` (a real
/// date, leap years checked) `T` `HH:MM` [`:SS` [`.` digits]] `Z`.
fn is_zod_datetime(text: &str) -> bool {
    let Some((date, time)) = text.split_once('T') else {
        return false;
    };
    let Some(time) = time.strip_suffix('Z') else {
        return false;
    };
    let date_ok = date.len() == 10
        && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok()
        && date.as_bytes()[4] == b'-'
        && date.as_bytes()[7] == b'-';
    date_ok && is_zod_time(time)
}

fn is_zod_time(time: &str) -> bool {
    let two_digits = |s: &str, max: u32| {
        s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u32>().unwrap() <= max
    };
    let (hh_mm, seconds) = match time.get(5..) {
        Some("") => (time, None),
        Some(rest) => match rest.strip_prefix(':') {
            Some(seconds) => (&time[..5], Some(seconds)),
            None => return false,
        },
        None => return false,
    };
    let Some((hours, minutes)) = hh_mm.split_once(':') else {
        return false;
    };
    let seconds_ok = seconds.is_none_or(|s| {
        let (whole, fraction) = s.split_once('.').unwrap_or((s, "0"));
        two_digits(whole, 59)
            && !fraction.is_empty()
            && fraction.bytes().all(|b| b.is_ascii_digit())
    });
    two_digits(hours, 23) && two_digits(minutes, 59) && seconds_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn passing() -> Value {
        json!({
            "id": "0b6f4a56-1c1e-4f5d-9d59-6f0e5b0c1a2b",
            "type": "integration.sync.completed",
            "version": "1.0",
            "timestamp": "2026-12-01T10:00:00.123Z",
            "tenantId": "00000000-0000-4000-8000-000000000001",
            "source": {"service": "integration-sync", "instance": "i-1"},
            "data": {},
            "metadata": {"correlationId": "6a1f0c2e-93b4-4d7a-8e55-1c0fd2b3a917"}
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut envelope = passing();
        envelope[field] = value;
        envelope
    }

    #[test]
    fn a_well_formed_envelope_passes() {
        assert_eq!(violations(&passing()), Vec::<String>::new());
        assert!(violations(&with("tenantId", json!(""))).is_empty());
        assert!(violations(&with("timestamp", json!("2024-02-29T23:59Z"))).is_empty());
    }

    #[test]
    fn the_platforms_own_failing_names_are_refused() {
        for name in [
            "integration.data.raw.batch",
            "integration.sync.check-due",
            "integration.token.check-expiring",
            "integration.token.refresh.failed",
            "integration.token.refresh-requested",
            "integration.data.mapping.failed",
            "integration.opportunities.updated.batch",
            "shard.updated",
            "Integration.sync.started",
        ] {
            assert!(!type_passes(name), "{name} must fail");
            assert_eq!(violations(&with("type", json!(name))).len(), 1, "{name}");
        }
        assert!(type_passes("integration.sync.check_due"));
    }

    #[test]
    fn ids_that_are_not_uuids_are_refused_wherever_the_rule_wants_one() {
        assert!(!violations(&with("id", json!("evt-1"))).is_empty());
        assert!(!violations(&with("tenantId", json!("system"))).is_empty());
        for key in ["correlationId", "causationId", "userId"] {
            let mut envelope = passing();
            envelope["metadata"][key] = json!("event:integration.sync.scheduled:scheduled");
            assert_eq!(violations(&envelope).len(), 1, "{key}");
            envelope["metadata"][key] = Value::Null;
            assert_eq!(violations(&envelope).len(), 1, "null {key}");
        }
        assert!(!violations(&with("metadata", Value::Null)).is_empty());
    }

    #[test]
    fn timestamps_need_a_real_date_and_a_z() {
        for bad in [
            "2026-12-01T10:00:00+00:00",
            "2026-12-01 10:00:00Z",
            "2025-02-29T10:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T10:00:00.Z",
            "2026-12-01T10Z",
            "1764583200",
        ] {
            assert!(
                !violations(&with("timestamp", json!(bad))).is_empty(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_missing_source_or_version_is_refused() {
        let mut envelope = passing();
        envelope.as_object_mut().unwrap().remove("version");
        assert_eq!(violations(&envelope).len(), 1);
        assert_eq!(
            violations(&with("source", json!({"service": "integration-sync"}))).len(),
            1
        );
    }
}
