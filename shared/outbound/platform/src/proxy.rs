//! integration-manager's own adapters as a provider: `POST
//! /api/v1/integrations/{id}/fetch` with limit/offset paging. The fallback for
//! providers this service has no native adapter for. integration-manager has
//! no push route, so through it nothing can be written: outbound sync of such
//! an integration is refused before anything is read. Its fetch offers no
//! change window and no deletions, so every run walks everything (change
//! detection keeps unchanged records quiet), and its adapters may ignore
//! `offset` (the engine stops a run that is handed a page it already read).
//! Records keep the bytes integration-manager sent: only the id, the
//! modification time and the deletion flag are read out of them.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, value::RawValue};

use crate::{IntegrationManager, NeighbourError, members};

use sync_core::{
    domain::{ExternalRecord, Integration},
    ports::provider::{PageRequest, Provider, ProviderError, PushOutcome, PushRequest, RecordPage},
};

const MODIFIED_FIELDS: &[&str] = &[
    "updatedAt",
    "modifiedAt",
    "lastModified",
    "LastModifiedDate",
    "SystemModstamp",
    "hs_lastmodifieddate",
];

pub struct IntegrationManagerProxy {
    manager: IntegrationManager,
    /// Records per fetch (`sync_limits.integration_manager_page_size`).
    page_size: usize,
}

impl IntegrationManagerProxy {
    pub fn new(manager: IntegrationManager, page_size: usize) -> Arc<Self> {
        Arc::new(IntegrationManagerProxy { manager, page_size })
    }
}

/// The names a record's id goes by, in the order they are looked for.
const ID_FIELDS: &[&str] = &["id", "Id", "externalId", "external_id"];

/// The names of a deletion flag, in the order they are looked for.
const DELETED_FIELDS: &[&str] = &["deleted", "IsDeleted", "archived"];

/// The fields of a record the proxy reads, each left as the JSON text it
/// is, by its place in [`ID_FIELDS`], [`MODIFIED_FIELDS`] and
/// [`DELETED_FIELDS`]. A null is absent; a name written twice is its last
/// value, as `JSON.parse` reads it.
#[derive(Default)]
struct Keys<'a> {
    id: [Option<&'a str>; ID_FIELDS.len()],
    modified: [Option<&'a str>; MODIFIED_FIELDS.len()],
    deleted: [Option<&'a str>; DELETED_FIELDS.len()],
}

impl<'a> Keys<'a> {
    /// The keys of the object `text` holds (validated JSON), or `None` when
    /// it is not an object. The rest of the record is stepped over, never
    /// parsed.
    fn of(text: &'a str) -> Option<Self> {
        let mut keys = Keys::default();
        for member in members::members(text)? {
            let name = member.name();
            let value = (member.value != "null").then_some(member.value);
            let slot = |names: &[&str]| names.iter().position(|n| *n == name);
            if let Some(i) = slot(ID_FIELDS) {
                keys.id[i] = value;
            } else if let Some(i) = slot(MODIFIED_FIELDS) {
                keys.modified[i] = value;
            } else if let Some(i) = slot(DELETED_FIELDS) {
                keys.deleted[i] = value;
            }
        }
        Some(keys)
    }
}

fn no_id() -> ProviderError {
    ProviderError::Unexpected(anyhow::anyhow!(
        "integration-manager sent a record without an id"
    ))
}

/// A record as integration-manager sent it: its bytes kept as they are.
fn to_record(entity_type: &str, raw: Box<RawValue>) -> Result<ExternalRecord, ProviderError> {
    let keys = Keys::of(raw.get()).ok_or_else(no_id)?;
    let id = keys.id.into_iter().flatten().next().ok_or_else(no_id)?;
    let external_id = match members::string_text(id) {
        Some(id) => id.into_owned(),
        // A number is its text as serde_json writes it (`7`, `1.5`).
        None => match serde_json::from_str::<Value>(id) {
            Ok(Value::Number(id)) => id.to_string(),
            _ => return Err(no_id()),
        },
    };
    let modified_at = keys
        .modified
        .into_iter()
        .flatten()
        .next()
        .and_then(members::string_text)
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map_or_else(sync_core::domain::time::now, |t| t.with_timezone(&Utc));
    let deleted = keys.deleted.into_iter().flatten().next() == Some("true");
    Ok(ExternalRecord {
        entity_type: entity_type.to_owned(),
        external_id,
        modified_at,
        deleted,
        raw,
    })
}

/// The records of one answer of integration-manager's fetch, each keeping
/// its bytes; refused whole when one has no id.
pub fn records(
    entity_type: &str,
    rows: Vec<Box<RawValue>>,
) -> Result<Vec<ExternalRecord>, ProviderError> {
    rows.into_iter()
        .map(|row| to_record(entity_type, row))
        .collect()
}

#[async_trait]
impl Provider for IntegrationManagerProxy {
    async fn fetch_page(
        &self,
        integration: &Integration,
        request: PageRequest,
    ) -> Result<RecordPage, ProviderError> {
        let offset: u64 = match &request.cursor {
            Some(c) => c
                .parse()
                .map_err(|_| ProviderError::Unsupported(format!("invalid proxy cursor `{c}`")))?,
            None => 0,
        };
        let rows = self
            .manager
            .fetch(
                integration,
                &request.entity_type,
                request.filters.as_ref(),
                request.page_size,
                offset,
            )
            .await
            .map_err(|e| match e {
                e @ NeighbourError::Unavailable { .. } => ProviderError::Transient(e.to_string()),
                NeighbourError::NotFound { what, .. } => ProviderError::NotFound(what),
                e => ProviderError::Unexpected(anyhow::anyhow!(e)),
            })?;
        let full_page = rows.len() >= request.page_size;
        let records = records(&request.entity_type, rows)?;
        let next_cursor = full_page.then(|| (offset + records.len() as u64).to_string());
        Ok(RecordPage {
            records,
            next_cursor,
            // integration-manager's fetch answers records, no count.
            total: None,
        })
    }

    fn page_size(&self, _configured: usize) -> usize {
        self.page_size
    }

    fn can_push(&self) -> bool {
        false
    }

    fn has_change_window(&self) -> bool {
        false
    }

    async fn push(
        &self,
        _integration: &Integration,
        _request: PushRequest,
    ) -> Result<PushOutcome, ProviderError> {
        Err(ProviderError::Unsupported(
            "integration-manager has no push route: this integration cannot be written to".into(),
        ))
    }

    fn volatile_fields(&self) -> &'static [&'static str] {
        MODIFIED_FIELDS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> Result<ExternalRecord, ProviderError> {
        to_record("deals", RawValue::from_string(text.to_owned()).unwrap())
    }

    #[test]
    fn the_first_id_field_present_names_the_record_and_its_bytes_are_kept() {
        let text =
            r#"{"Id":"pascal","id":7,"title":"caf\u00e9","updatedAt":"2026-05-01T10:00:00+02:00"}"#;
        let read = record(text).unwrap();
        assert_eq!(
            read.external_id, "7",
            "`id` comes before `Id`; a number is its text"
        );
        assert_eq!(read.raw.get(), text, "the provider's bytes, untouched");
        assert_eq!(read.modified_at.to_rfc3339(), "2026-05-01T08:00:00+00:00");
        assert!(!read.deleted);
        let read = record(r#"{"external_id":"snake","IsDeleted":true}"#).unwrap();
        assert_eq!(read.external_id, "snake");
        assert!(read.deleted);
    }

    #[test]
    fn a_record_without_a_usable_id_is_refused() {
        for text in [
            r#"{"title":"x"}"#,
            r#"{"id":null}"#,
            r#"{"id":{"a":1}}"#,
            "[1]",
        ] {
            assert!(record(text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_name_written_twice_is_its_last_value_and_a_null_is_absent() {
        let read = record(
            r#"{"id":"first","id":"last","updatedAt":null,"modifiedAt":"2026-05-01T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(read.external_id, "last", "as JSON.parse reads it");
        assert_eq!(read.modified_at.to_rfc3339(), "2026-05-01T10:00:00+00:00");
        let read = record(r#"{"Id":"pascal","id":"x","id":null}"#).unwrap();
        assert_eq!(
            read.external_id, "pascal",
            "a null written last clears `id`"
        );
        let read = record(r#"{ "\u0069d" : "esc\u00e9" , "deleted" : true }"#).unwrap();
        assert_eq!(
            read.external_id, "escé",
            "names and values with their escapes resolved"
        );
        assert!(read.deleted);
    }

    #[test]
    fn an_unreadable_modification_time_is_the_time_it_was_read() {
        let before = sync_core::domain::time::now();
        let read = record(r#"{"id":"a","updatedAt":"yesterday","archived":false}"#).unwrap();
        assert!(read.modified_at >= before);
        assert!(!read.deleted);
    }

    mod against_the_whole_record_parsed {
        use proptest::prelude::*;

        use super::*;

        /// What the proxy reads, from the record parsed whole into a tree:
        /// each meaning's first name present and not null (a name written
        /// twice keeps its last value).
        fn reference(text: &str) -> Option<(String, Option<DateTime<Utc>>, bool)> {
            let Ok(Value::Object(record)) = serde_json::from_str::<Value>(text) else {
                return None;
            };
            let first = |names: &[&str]| {
                names
                    .iter()
                    .find_map(|n| record.get(*n).filter(|v| !v.is_null()))
            };
            let external_id = match first(ID_FIELDS)? {
                Value::String(id) => id.clone(),
                Value::Number(id) => id.to_string(),
                _ => return None,
            };
            let modified = first(MODIFIED_FIELDS)
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            let deleted = first(DELETED_FIELDS) == Some(&Value::Bool(true));
            Some((external_id, modified, deleted))
        }

        fn name() -> impl Strategy<Value = String> {
            let known: Vec<&str> = [ID_FIELDS, MODIFIED_FIELDS, DELETED_FIELDS].concat();
            prop_oneof![
                3 => proptest::sample::select(known).prop_map(str::to_owned),
                1 => "[a-zA-Z_\"\\\\\u{e9} ]{0,10}",
            ]
        }

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                // Often: a null is read as absent, and the next name counts.
                3 => Just(Value::Null),
                1 => any::<bool>().prop_map(Value::Bool),
                1 => any::<i64>().prop_map(Value::from),
                1 => any::<f64>()
                    .prop_filter("JSON has no infinities", |f| f.is_finite())
                    .prop_map(Value::from),
                1 => "[a-z0-9{}\\[\\],:\"\\\\ \t\n\u{0}-\u{1f}\u{e9}\u{1F600}]{0,16}"
                    .prop_map(Value::String),
                2 => proptest::sample::select(vec![
                    "2026-05-01T10:00:00+02:00",
                    "2026-11-30T12:00:00Z",
                    "2026-11-30T12:00:00.123456Z",
                    "yesterday",
                ])
                .prop_map(Value::from),
            ]
        }

        fn value() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec((name(), inner), 0..4)
                        .prop_map(|members| Value::Object(members.into_iter().collect())),
                ]
            })
        }

        /// A name as JSON text, either as serde_json writes it or with every
        /// character escaped (`"\u0069\u0064"`).
        fn written_name(name: &str, escaped: bool) -> String {
            if !escaped {
                return serde_json::to_string(name).unwrap();
            }
            let units: String = name.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
            format!("\"{units}\"")
        }

        /// A record's text: members written one by one (so a name may come
        /// twice), each with its own whitespace and escaping, values compact
        /// or pretty; now and then not an object at all.
        fn record_text() -> impl Strategy<Value = String> {
            let space = proptest::sample::select(vec!["", " ", "\n", "\t", " \r\n "]);
            let member = (name(), any::<bool>(), value(), any::<bool>(), space.clone());
            prop_oneof![
                9 => (prop::collection::vec(member, 0..10), space).prop_map(|(members, outer)| {
                    let written: Vec<String> = members
                        .into_iter()
                        .map(|(name, escaped, value, pretty, space)| {
                            let value = if pretty {
                                serde_json::to_string_pretty(&value).unwrap()
                            } else {
                                value.to_string()
                            };
                            format!("{space}{}{space}:{space}{value}{space}", written_name(&name, escaped))
                        })
                        .collect();
                    format!("{outer}{{{}}}{outer}", written.join(","))
                }),
                1 => value().prop_map(|v| v.to_string()),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]

            /// Stepping over the values reads what parsing the whole record
            /// reads: the same id (or the same refusal), the same time, the
            /// same deletion flag.
            #[test]
            fn a_record_reads_as_the_whole_record_parsed(text in record_text()) {
                let before = sync_core::domain::time::now();
                let raw = RawValue::from_string(text.clone()).expect("generated records are JSON");
                let read = to_record("deals", raw);
                match (reference(&text), read) {
                    (None, Err(_)) => {}
                    (Some((id, modified, deleted)), Ok(read)) => {
                        prop_assert_eq!(read.external_id, id);
                        prop_assert_eq!(read.deleted, deleted);
                        match modified {
                            Some(t) => prop_assert_eq!(read.modified_at, t),
                            None => prop_assert!(read.modified_at >= before),
                        }
                        // The record's bytes, as serde_json keeps them (outer
                        // whitespace trimmed).
                        prop_assert_eq!(read.raw.get(), text.trim_matches([' ', '\n', '\r', '\t']));
                    }
                    (expected, read) => prop_assert!(
                        false,
                        "{text}: the whole record reads {expected:?}, the proxy {:?}",
                        read.map(|r| r.external_id)
                    ),
                }
            }
        }
    }
}
