//! A document's head: the object of the fields a hot path reads of many
//! documents at once (a record state's hashes), written by the caller beside
//! the document (`upsert_many_text_with_heads`). A read of exactly those
//! fields answers the head as it is; a document written without one (or
//! with a head of other fields) has its fields extracted from its JSON.
//! Parsing each state's JSON was about half of a re-sync's heads read.

use rusqlite::types::ValueRef;
use sync_core::ports::store::StoreError;
use xxhash_rust::xxh3::xxh3_64;

use super::unexpected;

/// Which field list a head holds: a hash of the names in order.
pub(crate) fn head_key(fields: &[&str]) -> i64 {
    // Names passed `check_fields` and hold no ','.
    xxh3_64(fields.join(",").as_bytes()) as i64
}

/// The columns a read of `fields` selects after id and etag: the head when
/// it holds exactly `fields`, else each field as SQLite's JSON text
/// (`body -> '$.field'`, one parse of the body for all of them).
pub(crate) fn field_columns(fields: &[&str]) -> String {
    let key = head_key(fields);
    let mut columns = format!("CASE WHEN head_key = {key} THEN head END");
    for field in fields {
        columns.push_str(&format!(
            ", CASE WHEN head_key IS {key} THEN NULL ELSE body -> '$.{field}' END"
        ));
    }
    columns
}

/// The object of `names` from a row selected with [`field_columns`].
pub(crate) fn fields_of(names: &[String], row: &rusqlite::Row<'_>) -> Result<String, StoreError> {
    match row.get_ref(2).map_err(unexpected)? {
        ValueRef::Text(head) => text(head),
        _ => projected(names, row, 3),
    }
}

/// The object of `names` from the row's field columns from `first` on,
/// written as text from SQLite's JSON answers without parsing them; fields
/// a document lacks or holds as null are left out.
fn projected(
    names: &[String],
    row: &rusqlite::Row<'_>,
    first: usize,
) -> Result<String, StoreError> {
    let mut object = String::with_capacity(128);
    object.push('{');
    for (i, name) in names.iter().enumerate() {
        // Borrowed from the row: no string of its own per field.
        let value = match row.get_ref(first + i).map_err(unexpected)? {
            ValueRef::Null | ValueRef::Text(b"null") => continue,
            ValueRef::Text(value) => std::str::from_utf8(value).map_err(not_utf8)?,
            other => {
                return Err(StoreError::Unexpected(anyhow::anyhow!(
                    "sqlite answered `{name}` as {:?}, not JSON text",
                    other.data_type()
                )));
            }
        };
        if object.len() > 1 {
            object.push(',');
        }
        // Names passed `check_fields`: letters, digits and '_', nothing to escape.
        object.push('"');
        object.push_str(name);
        object.push_str("\":");
        object.push_str(value);
    }
    object.push('}');
    Ok(object)
}

fn text(bytes: &[u8]) -> Result<String, StoreError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(not_utf8)
}

fn not_utf8(e: std::str::Utf8Error) -> StoreError {
    StoreError::Unexpected(anyhow::Error::new(e).context("sqlite"))
}

#[cfg(test)]
mod tests {
    use sync_core::ports::store::{Collection, DocumentStore, HeadedText};
    use uuid::Uuid;

    use crate::SqliteStore;

    async fn read(store: &SqliteStore, tenant: Uuid, fields: &[&str]) -> Vec<String> {
        let ids = vec!["s1".to_owned()];
        store
            .read_many_fields(Collection::SyncState, tenant, &ids, fields)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.body)
            .collect()
    }

    /// The head is answered as written, without looking into the body: a
    /// head that (against the port's rule) differs from its body shows it.
    #[tokio::test]
    async fn a_read_of_the_head_fields_answers_the_head_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_dir(dir.path()).unwrap();
        let tenant = Uuid::new_v4();
        let document = HeadedText {
            id: "s1".into(),
            body: r#"{"id":"s1","externalId":"from-body","deleted":false}"#.into(),
            head: r#"{"externalId":"from-head"}"#.into(),
        };
        store
            .upsert_many_text_with_heads(
                Collection::SyncState,
                tenant,
                vec![document],
                &["externalId"],
            )
            .await
            .unwrap();
        assert_eq!(
            read(&store, tenant, &["externalId"]).await,
            [r#"{"externalId":"from-head"}"#]
        );
        assert_eq!(
            read(&store, tenant, &["externalId", "deleted"]).await,
            [r#"{"externalId":"from-body","deleted":false}"#]
        );
    }

    /// A file written before heads existed gains their columns on opening;
    /// its rows answer from their bodies until written again.
    #[tokio::test]
    async fn a_file_from_before_heads_gains_them_and_keeps_its_documents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("integration-sync.db");
        let tenant = Uuid::new_v4();
        {
            let old = rusqlite::Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE docs (collection TEXT NOT NULL, tenant_id TEXT NOT NULL,
                     id TEXT NOT NULL, etag TEXT NOT NULL, body TEXT NOT NULL);
                 CREATE UNIQUE INDEX docs_key ON docs (collection, tenant_id, id);",
            )
            .unwrap();
            old.execute(
                "INSERT INTO docs VALUES (?1, ?2, 's1', 'e1', ?3)",
                rusqlite::params![
                    Collection::SyncState.key(),
                    tenant.to_string(),
                    r#"{"id":"s1","externalId":"before","rawHash":"h"}"#
                ],
            )
            .unwrap();
        }
        let fields = ["externalId", "rawHash"];
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            read(&store, tenant, &fields).await,
            [r#"{"externalId":"before","rawHash":"h"}"#]
        );
        let document = HeadedText {
            id: "s1".into(),
            body: r#"{"id":"s1","externalId":"after"}"#.into(),
            head: r#"{"externalId":"after"}"#.into(),
        };
        store
            .upsert_many_text_with_heads(Collection::SyncState, tenant, vec![document], &fields)
            .await
            .unwrap();
        drop(store);
        let reopened = SqliteStore::open(&path).unwrap();
        assert_eq!(
            read(&reopened, tenant, &fields).await,
            [r#"{"externalId":"after"}"#]
        );
    }
}
