//! The embedded store: SQLite, one file under the data directory.
//!
//! All documents share one table keyed by (collection, tenant, id), which keeps
//! the partition-key semantics of Cosmos DB. The connection is used from a
//! blocking thread so the async runtime never waits on disk.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

mod checkpoint;
mod heads;
mod parts;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::Value;
use uuid::Uuid;

use checkpoint::Checkpointer;
use parts::{Parts, SCHEMA};

use sync_core::{
    domain::TenantId,
    ports::store::{
        Collection, DocumentStore, ETag, FilterOp, HeadedText, Query, QueryPage, StoreError,
        StoredDocument, TextDocument, check_fields, is_safe_field,
    },
};

/// Pages of 32 KiB rather than SQLite's 4: a commit appends its pages to the
/// WAL one write call each, and a checkpoint copies them the same way, so a
/// page of states costs an eighth of the calls (measured: 16 KiB cut a
/// first sync's system time ~17 %; 32 KiB its wall time another ~3 %, five
/// rounds of five, re-syncs no slower). The page cache is sized in bytes
/// (SQLite's default 2 MiB), so memory stays the same.
const PAGE_SIZE: i64 = 32 * 1024;

/// Connections that only read. In WAL mode a reader sees the last commit and
/// neither waits for the writer nor holds it up, so a sync reads the next
/// page's states while the previous page's are being written, and API reads
/// do not queue behind a sync's writes.
const READERS: usize = 2;

/// Creates or overwrites one document: (partition, id, etag, body, head,
/// head key); a write without a head drops the one written before.
const UPSERT: &str = "INSERT INTO documents (part, id, etag, body, head, head_key)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (part, id)
     DO UPDATE SET etag = excluded.etag, body = excluded.body,
                   head = excluded.head, head_key = excluded.head_key";

#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    checkpointer: Arc<Checkpointer>,
    readers: Arc<[Mutex<Connection>]>,
    next_reader: Arc<AtomicUsize>,
    parts: Arc<Parts>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) `integration-sync.db` under `data_dir`.
    pub fn open_in_dir(data_dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = data_dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        Self::open(dir.join("integration-sync.db"))
    }

    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let mut writer = connect(&path)?;
        // Before anything is written: a new file takes this page size, an
        // existing one keeps its own (SQLite ignores it then).
        writer
            .pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(unexpected)?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(unexpected)?;
        // WAL with NORMAL sync survives process crashes (not power loss), which is
        // what the embedded mode promises.
        writer
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(unexpected)?;
        // Checkpoints run on a thread of their own (see `checkpoint`); the
        // writer's own, at four times the thread's restart size (256 MiB of
        // WAL, in frames of this file's page size), is only the backstop
        // should that thread be gone.
        let page_size: i64 = writer
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .map_err(unexpected)?;
        writer
            .pragma_update(
                None,
                "wal_autocheckpoint",
                4 * checkpoint::restart_at_frames(page_size),
            )
            .map_err(unexpected)?;
        // A WAL that grew (a long sync) is cut back to 64 MiB when it restarts.
        writer
            .pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
            .map_err(unexpected)?;
        writer.execute_batch(SCHEMA).map_err(unexpected)?;
        parts::upgrade(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| connect(&path).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let checkpointer = Checkpointer::start(connect(&path)?, &path, page_size)?;
        Ok(SqliteStore {
            writer: Arc::new(Mutex::new(writer)),
            checkpointer: Arc::new(checkpointer),
            readers: readers.into(),
            next_reader: Arc::new(AtomicUsize::new(0)),
            parts: Arc::default(),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Upserts (id, body, head) in one transaction: one disk sync for the
    /// whole batch. `head_key` names the fields the heads hold.
    async fn write_many(
        &self,
        collection: Collection,
        tenant: TenantId,
        documents: Vec<(String, String, Option<String>)>,
        head_key: Option<i64>,
    ) -> Result<(), StoreError> {
        if documents.is_empty() {
            return Ok(());
        }
        let parts = self.parts.clone();
        self.with_conn(move |conn| {
            let tx = write_transaction(conn)?;
            let part = parts.ensure(&tx, collection, tenant)?;
            {
                let mut statement = tx.prepare_cached(UPSERT).map_err(unexpected)?;
                for (id, body, head) in &documents {
                    let key = head.as_ref().and(head_key);
                    statement
                        .execute(params![part, id, new_etag().as_str(), body, head, key])
                        .map_err(unexpected)?;
                }
            }
            tx.commit().map_err(unexpected)?;
            parts.remember(collection, tenant, part);
            Ok(())
        })
        .await
    }

    /// Runs `f` on the writing connection, on a blocking thread.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (conn, checkpointer) = (self.writer.clone(), self.checkpointer.clone());
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Unavailable("store connection poisoned".into()))?;
            let answer = f(&mut guard);
            checkpointer.nudge();
            answer
        })
        .await
        .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("store task failed: {e}")))?
    }

    /// A point read (one row by its key: microseconds from the page cache)
    /// runs on the caller's thread when a reading connection is free, which
    /// saves the two thread hops of a blocking task per API read; when none
    /// is free it queues like any read.
    async fn with_free_reader_inline<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match self.on_a_free_reader(f) {
            Ok(answer) => answer,
            Err(f) => self.with_reader(f).await,
        }
    }

    /// Runs `f` here if a reading connection is free; gives it back if not.
    fn on_a_free_reader<T, F>(&self, f: F) -> Result<Result<T, StoreError>, F>
    where
        F: FnOnce(&mut Connection) -> Result<T, StoreError>,
    {
        let readers = &self.readers;
        let first = self.next_reader.fetch_add(1, Ordering::Relaxed);
        match (0..readers.len()).find_map(|i| readers[(first + i) % readers.len()].try_lock().ok())
        {
            Some(mut guard) => Ok(f(&mut guard)),
            None => Err(f),
        }
    }

    /// Runs `f` on one of the reading connections, on a blocking thread.
    async fn with_reader<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = self.readers.clone();
        let first = self.next_reader.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            // A free reader if there is one, else wait for the next in turn.
            let free = (0..readers.len())
                .find_map(|i| readers[(first + i) % readers.len()].try_lock().ok());
            let mut guard = match free {
                Some(guard) => guard,
                None => readers[first % readers.len()]
                    .lock()
                    .map_err(|_| StoreError::Unavailable("store connection poisoned".into()))?,
            };
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("store task failed: {e}")))?
    }
}

/// The documents of `ids` in one partition, each from the row of (id, etag,
/// `columns`…) whose body `body_of` writes; missing ones are left out.
fn rows_by_id(
    conn: &mut Connection,
    part: Option<i64>,
    ids: &[String],
    columns: &str,
    body_of: impl Fn(&rusqlite::Row<'_>) -> Result<String, StoreError>,
) -> Result<Vec<TextDocument>, StoreError> {
    let Some(part) = part else {
        return Ok(Vec::new()); // nothing was ever written to the partition
    };
    let mut found = Vec::with_capacity(ids.len());
    // SQLite binds at most 32766 parameters; stay far below.
    for chunk in ids.chunks(500) {
        if !any_between(conn, part, chunk)? {
            continue;
        }
        let placeholders = vec!["?"; chunk.len()].join(",");
        let sql = format!(
            "SELECT id, etag, {columns} FROM documents
             WHERE part = ? AND id IN ({placeholders})"
        );
        let mut statement = conn.prepare_cached(&sql).map_err(unexpected)?;
        let params = std::iter::once(&part as &dyn rusqlite::ToSql)
            .chain(chunk.iter().map(|id| id as &dyn rusqlite::ToSql));
        let mut rows = statement
            .query(rusqlite::params_from_iter(params))
            .map_err(unexpected)?;
        while let Some(row) = rows.next().map_err(unexpected)? {
            found.push(TextDocument {
                id: row.get(0).map_err(unexpected)?,
                etag: ETag(row.get(1).map_err(unexpected)?),
                body: body_of(row)?,
            });
        }
    }
    Ok(found)
}

/// Whether any document of the partition has an id from the least of
/// `ids` to the greatest (SQLite's text order is Rust's byte order): one
/// seek. A first sync asks for a page of ids none of which exists yet; this
/// answers it without the `IN` list's sort and a seek per id (0.4 s of a
/// first sync of 300k records, on the walk's path). Not worth asking for a
/// few ids.
fn any_between(conn: &Connection, part: i64, ids: &[String]) -> Result<bool, StoreError> {
    if ids.len() < 16 {
        return Ok(!ids.is_empty());
    }
    let (Some(least), Some(greatest)) = (ids.iter().min(), ids.iter().max()) else {
        return Ok(false);
    };
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM documents WHERE part = ?1 AND id BETWEEN ?2 AND ?3)",
    )
    .map_err(unexpected)?
    .query_row(rusqlite::params![part, least, greatest], |row| row.get(0))
    .map_err(unexpected)
}

/// A connection to the file that waits up to 5 s for a lock.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(unexpected)?;
    Ok(conn)
}

/// A transaction that takes the write lock at its start. A deferred one
/// that reads first holds a snapshot and then asks for the lock: while the
/// checkpoint thread's RESTART holds that lock and waits for every snapshot
/// to end, the two would wait for each other until one timed out.
fn write_transaction(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unexpected)
}

fn unexpected(e: rusqlite::Error) -> StoreError {
    StoreError::Unexpected(anyhow::Error::new(e).context("sqlite"))
}

/// The document's ETag now, inside the caller's transaction.
fn current_etag(
    tx: &rusqlite::Transaction,
    part: Option<i64>,
    id: &str,
) -> Result<Option<String>, StoreError> {
    let Some(part) = part else {
        return Ok(None);
    };
    tx.prepare_cached("SELECT etag FROM documents WHERE part = ?1 AND id = ?2")
        .map_err(unexpected)?
        .query_row(params![part, id], |row| row.get(0))
        .optional()
        .map_err(unexpected)
}

/// A fresh ETag: this process's random prefix and a counter. Unique across
/// processes sharing the file, and far cheaper than a random UUID per write
/// (which asks the kernel for randomness every time).
fn new_etag() -> NewEtag {
    static PREFIX: std::sync::LazyLock<u64> =
        std::sync::LazyLock::new(|| Uuid::new_v4().as_u64_pair().0);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut text = [0u8; 32];
    let value = (u128::from(*PREFIX) << 64) | u128::from(COUNTER.fetch_add(1, Ordering::Relaxed));
    for (i, digit) in text.iter_mut().enumerate() {
        let nibble = (value >> (4 * (31 - i))) & 0xf;
        *digit = b"0123456789abcdef"[nibble as usize];
    }
    NewEtag(text)
}

/// 32 lowercase hex digits on the stack: one per document written, bound
/// to its statement without a `String` (`format!` showed in profiles).
struct NewEtag([u8; 32]);

impl NewEtag {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

fn encode(body: &Value) -> Result<String, StoreError> {
    serde_json::to_string(body).map_err(|e| StoreError::Unexpected(e.into()))
}

#[async_trait]
impl DocumentStore for SqliteStore {
    async fn create(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        body: Value,
    ) -> Result<ETag, StoreError> {
        let (id, body) = (id.to_owned(), encode(&body)?);
        let parts = self.parts.clone();
        self.with_conn(move |conn| {
            let etag = new_etag().as_str().to_owned();
            let tx = write_transaction(conn)?;
            let part = parts.ensure(&tx, collection, tenant)?;
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO documents (part, id, etag, body)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )
                .map_err(unexpected)?
                .execute(params![part, id, etag, body])
                .map_err(unexpected)?;
            tx.commit().map_err(unexpected)?;
            parts.remember(collection, tenant, part);
            match inserted {
                0 => Err(StoreError::AlreadyExists),
                _ => Ok(ETag(etag)),
            }
        })
        .await
    }

    async fn read(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<StoredDocument>, StoreError> {
        self.read_text(collection, tenant, id)
            .await?
            .map(TextDocument::parse)
            .transpose()
    }

    async fn read_text(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<TextDocument>, StoreError> {
        let (id, parts) = (id.to_owned(), self.parts.clone());
        self.with_free_reader_inline(move |conn| {
            let Some(part) = parts.find(conn, collection, tenant)? else {
                return Ok(None);
            };
            let mut statement = conn
                .prepare_cached("SELECT etag, body FROM documents WHERE part = ?1 AND id = ?2")
                .map_err(unexpected)?;
            let row: Option<(String, String)> = statement
                .query_row(params![part, id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
                .map_err(unexpected)?;
            Ok(row.map(|(etag, body)| TextDocument {
                id,
                etag: ETag(etag),
                body,
            }))
        })
        .await
    }

    async fn replace(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        body: Value,
        if_match: &ETag,
    ) -> Result<ETag, StoreError> {
        let (id, body, expected) = (id.to_owned(), encode(&body)?, if_match.0.clone());
        let parts = self.parts.clone();
        self.with_conn(move |conn| {
            let etag = new_etag().as_str().to_owned();
            let tx = write_transaction(conn)?;
            let part = parts.find(&tx, collection, tenant)?;
            let current = current_etag(&tx, part, &id)?;
            match current {
                None => return Err(StoreError::NotFound),
                Some(current) if current != expected => {
                    return Err(StoreError::PreconditionFailed);
                }
                Some(_) => {}
            }
            tx.prepare_cached(
                "UPDATE documents SET etag = ?3, body = ?4, head = NULL, head_key = NULL
                 WHERE part = ?1 AND id = ?2",
            )
            .map_err(unexpected)?
            .execute(params![part, id, etag, body])
            .map_err(unexpected)?;
            tx.commit().map_err(unexpected)?;
            Ok(ETag(etag))
        })
        .await
    }

    async fn upsert(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        body: Value,
    ) -> Result<ETag, StoreError> {
        let (id, body) = (id.to_owned(), encode(&body)?);
        let parts = self.parts.clone();
        self.with_conn(move |conn| {
            let etag = new_etag().as_str().to_owned();
            let tx = write_transaction(conn)?;
            let part = parts.ensure(&tx, collection, tenant)?;
            tx.prepare_cached(UPSERT)
                .map_err(unexpected)?
                .execute(params![part, id, etag, body, None::<&str>, None::<i64>])
                .map_err(unexpected)?;
            tx.commit().map_err(unexpected)?;
            parts.remember(collection, tenant, part);
            Ok(ETag(etag))
        })
        .await
    }

    async fn read_many(
        &self,
        collection: Collection,
        tenant: TenantId,
        ids: &[String],
    ) -> Result<Vec<StoredDocument>, StoreError> {
        self.read_many_text(collection, tenant, ids)
            .await?
            .into_iter()
            .map(TextDocument::parse)
            .collect()
    }

    async fn read_many_text(
        &self,
        collection: Collection,
        tenant: TenantId,
        ids: &[String],
    ) -> Result<Vec<TextDocument>, StoreError> {
        let (ids, parts) = (ids.to_vec(), self.parts.clone());
        self.with_reader(move |conn| {
            let part = parts.find(conn, collection, tenant)?;
            rows_by_id(conn, part, &ids, "body", |row| {
                row.get(2).map_err(unexpected)
            })
        })
        .await
    }

    async fn read_many_fields(
        &self,
        collection: Collection,
        tenant: TenantId,
        ids: &[String],
        fields: &[&str],
    ) -> Result<Vec<TextDocument>, StoreError> {
        check_fields(fields)?;
        // SQLite extracts the fields: the rest of the body (a state's
        // snapshot) never leaves the page it is on.
        let columns = heads::field_columns(fields);
        let names: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        let (ids, parts) = (ids.to_vec(), self.parts.clone());
        self.with_reader(move |conn| {
            let part = parts.find(conn, collection, tenant)?;
            rows_by_id(conn, part, &ids, &columns, |row| {
                heads::fields_of(&names, row)
            })
        })
        .await
    }

    async fn upsert_many(
        &self,
        collection: Collection,
        tenant: TenantId,
        documents: Vec<(String, Value)>,
    ) -> Result<(), StoreError> {
        let encoded = documents
            .into_iter()
            .map(|(id, body)| encode(&body).map(|body| (id, body)))
            .collect::<Result<Vec<_>, _>>()?;
        self.upsert_many_text(collection, tenant, encoded).await
    }

    async fn upsert_many_text(
        &self,
        collection: Collection,
        tenant: TenantId,
        documents: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        let documents = documents
            .into_iter()
            .map(|(id, body)| (id, body, None))
            .collect();
        self.write_many(collection, tenant, documents, None).await
    }

    async fn upsert_many_text_with_heads(
        &self,
        collection: Collection,
        tenant: TenantId,
        documents: Vec<HeadedText>,
        head_fields: &[&str],
    ) -> Result<(), StoreError> {
        check_fields(head_fields)?;
        let documents = documents
            .into_iter()
            .map(|d| (d.id, d.body, Some(d.head)))
            .collect();
        let key = heads::head_key(head_fields);
        self.write_many(collection, tenant, documents, Some(key))
            .await
    }

    async fn delete(
        &self,
        collection: Collection,
        tenant: TenantId,
        id: &str,
        if_match: Option<&ETag>,
    ) -> Result<(), StoreError> {
        let (id, expected) = (id.to_owned(), if_match.map(|e| e.0.clone()));
        let parts = self.parts.clone();
        self.with_conn(move |conn| {
            let tx = write_transaction(conn)?;
            let part = parts.find(&tx, collection, tenant)?;
            let current = current_etag(&tx, part, &id)?;
            match (current, expected) {
                (None, _) => return Err(StoreError::NotFound),
                (Some(current), Some(expected)) if current != expected => {
                    return Err(StoreError::PreconditionFailed);
                }
                _ => {}
            }
            tx.execute(
                "DELETE FROM documents WHERE part = ?1 AND id = ?2",
                params![part, id],
            )
            .map_err(unexpected)?;
            tx.commit().map_err(unexpected)
        })
        .await
    }

    async fn query(
        &self,
        collection: Collection,
        tenant: TenantId,
        query: &Query,
        max_items: usize,
        continuation: Option<&str>,
    ) -> Result<QueryPage, StoreError> {
        let (sql, mut params) = build_query(query, max_items, continuation)?;
        let (order_by, parts) = (query.order_by, self.parts.clone());
        self.with_reader(move |conn| {
            let Some(part) = parts.find(conn, collection, tenant)? else {
                return Ok(QueryPage {
                    documents: Vec::new(),
                    continuation: None,
                });
            };
            params[0] = rusqlite::types::Value::Integer(part);
            let mut statement = conn.prepare_cached(&sql).map_err(unexpected)?;
            let rows = statement
                .query_map(rusqlite::params_from_iter(params.iter()), |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })
                .map_err(unexpected)?;
            let mut documents = Vec::new();
            for row in rows {
                let (id, etag, body) = row.map_err(unexpected)?;
                let body: Value =
                    serde_json::from_str(&body).map_err(|e| StoreError::Unexpected(e.into()))?;
                documents.push(StoredDocument {
                    id,
                    etag: ETag(etag),
                    body,
                });
            }
            // One extra row was asked for: it tells whether another page exists.
            let more = documents.len() > max_items;
            documents.truncate(max_items);
            let continuation = match documents.last() {
                Some(last) if more => Some(encode_continuation(&last.body[order_by], &last.id)),
                _ => None,
            };
            Ok(QueryPage {
                documents,
                continuation,
            })
        })
        .await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.with_reader(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        })
        .await
    }
}

const CONTINUATION_PREFIX: &str = "sqlite:";

/// Keyset continuation: the sort value and id of the last document returned.
fn encode_continuation(order_value: &Value, id: &str) -> String {
    format!(
        "{CONTINUATION_PREFIX}{}",
        serde_json::json!([order_value, id])
    )
}

fn decode_continuation(token: &str) -> Result<(Value, String), StoreError> {
    let invalid = || StoreError::InvalidQuery("the continuation token is not valid".into());
    let json = token
        .strip_prefix(CONTINUATION_PREFIX)
        .ok_or_else(invalid)?;
    let (value, id): (Value, String) = serde_json::from_str(json).map_err(|_| invalid())?;
    Ok((value, id))
}

fn sql_value(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as Sql;
    match value {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(Sql::Integer)
            .unwrap_or_else(|| Sql::Real(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => Sql::Text(s.clone()),
        other => Sql::Text(other.to_string()),
    }
}

/// Builds the SQL text from code-supplied field names (checked) and binds every
/// value as a parameter; the first, the partition, is the caller's to set.
fn build_query(
    query: &Query,
    max_items: usize,
    continuation: Option<&str>,
) -> Result<(String, Vec<rusqlite::types::Value>), StoreError> {
    use rusqlite::types::Value as Sql;
    let fields = query
        .filters
        .iter()
        .map(|f| f.field)
        .chain([query.order_by]);
    if let Some(bad) = fields.clone().find(|f| !is_safe_field(f)) {
        return Err(StoreError::InvalidQuery(format!(
            "field `{bad}` cannot be queried"
        )));
    }
    let mut sql = String::from("SELECT id, etag, body FROM documents WHERE part = ?1");
    let mut params = vec![Sql::Null];
    for filter in &query.filters {
        params.push(sql_value(&filter.value));
        let op = match filter.op {
            FilterOp::Eq => "=",
            FilterOp::Gte => ">=",
            FilterOp::Lte => "<=",
        };
        sql.push_str(&format!(
            " AND json_extract(body, '$.{}') {op} ?{}",
            filter.field,
            params.len()
        ));
    }
    let order = format!("json_extract(body, '$.{}')", query.order_by);
    let (after, direction) = if query.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(token) = continuation {
        let (value, id) = decode_continuation(token)?;
        params.push(sql_value(&value));
        let v = params.len();
        params.push(Sql::Text(id));
        let i = params.len();
        sql.push_str(&format!(
            " AND ({order} {after} ?{v} OR ({order} = ?{v} AND id {after} ?{i}))"
        ));
    }
    params.push(Sql::Integer(max_items as i64 + 1));
    sql.push_str(&format!(
        " ORDER BY {order} {direction}, id {direction} LIMIT ?{}",
        params.len()
    ));
    Ok((sql, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::testing::store_contract;

    #[tokio::test]
    async fn sqlite_store_honours_the_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_dir(dir.path()).unwrap();
        store_contract::run_all(&store).await;
    }

    /// A read whose ids' range holds no document is answered empty without
    /// a lookup per id; one whose range holds documents finds those asked
    /// for, wherever they sit among the ids (first, middle or last, in any
    /// order), and none between them that was not asked for.
    #[tokio::test]
    async fn a_read_finds_what_its_range_holds_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_dir(dir.path()).unwrap();
        let tenant = Uuid::new_v4();
        let present: Vec<(String, String)> = (100..200)
            .map(|i| (format!("m{i:05}"), format!(r#"{{"n":{i}}}"#)))
            .collect();
        store
            .upsert_many_text(Collection::SyncState, tenant, present)
            .await
            .unwrap();
        let read = |ids: Vec<String>| {
            let store = &store;
            async move {
                let mut found: Vec<String> = store
                    .read_many_fields(Collection::SyncState, tenant, &ids, &["n"])
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|d| d.id)
                    .collect();
                found.sort();
                found
            }
        };
        let absent = |prefix: &str, n: usize| -> Vec<String> {
            (0..n).map(|i| format!("{prefix}{i:05}")).collect()
        };

        assert!(read(absent("a", 500)).await.is_empty(), "all below");
        assert!(read(absent("z", 40)).await.is_empty(), "all above");
        // Absent ids between present ones.
        let between: Vec<String> = (100..140).map(|i| format!("m{i:05}-gone")).collect();
        assert!(read(between).await.is_empty());
        for at in [0, 20, 40] {
            let mut ids = absent("z", 20);
            ids.extend(absent("a", 20));
            ids.insert(at, "m00150".into());
            assert_eq!(read(ids).await, ["m00150"], "present at {at}");
        }
    }

    /// A read of more ids than one statement takes (500) is made of several:
    /// every document asked for and present comes back exactly once, whole
    /// or as the fields asked for.
    #[tokio::test]
    async fn a_read_of_many_ids_finds_each_document_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_dir(dir.path()).unwrap();
        let tenant = Uuid::new_v4();
        let present: Vec<(String, String)> = (0..1_201)
            .map(|i| {
                (
                    format!("d{i:05}"),
                    format!(r#"{{"n":{i},"big":"{}"}}"#, "x".repeat(64)),
                )
            })
            .collect();
        store
            .upsert_many_text(Collection::SyncState, tenant, present.clone())
            .await
            .unwrap();
        // Every other id asked for is missing; the present ones come in an
        // order unlike the table's.
        let mut wanted: Vec<String> = (0..2_402)
            .map(|i| format!("d{:05}", i / 2 + (i % 2) * 5_000))
            .collect();
        wanted.reverse();
        let expected: Vec<String> = present.iter().map(|(id, _)| id.clone()).collect();

        let sorted = |mut documents: Vec<TextDocument>| {
            documents.sort_by(|a, b| a.id.cmp(&b.id));
            let ids: Vec<String> = documents.iter().map(|d| d.id.clone()).collect();
            (documents, ids)
        };

        let (whole, ids) = sorted(
            store
                .read_many_text(Collection::SyncState, tenant, &wanted)
                .await
                .unwrap(),
        );
        assert_eq!(ids, expected);
        assert!(
            whole
                .iter()
                .zip(&present)
                .all(|(d, (_, body))| &d.body == body)
        );

        let (fields, ids) = sorted(
            store
                .read_many_fields(Collection::SyncState, tenant, &wanted, &["n"])
                .await
                .unwrap(),
        );
        assert_eq!(ids, expected);
        assert!(
            fields
                .iter()
                .enumerate()
                .all(|(i, d)| d.body == format!(r#"{{"n":{i}}}"#))
        );
    }

    /// The checkpoint thread's RESTART holds the write lock while it waits
    /// for readers; a read-then-write (here a delete, which reads the ETag
    /// first) must wait for it, not fail.
    #[tokio::test]
    async fn a_write_waits_out_a_restart_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_dir(dir.path()).unwrap();
        let tenant = Uuid::new_v4();
        let doc = serde_json::json!({"v": 1});
        store
            .create(Collection::SyncTasks, tenant, "gone", doc)
            .await
            .unwrap();
        let path = store.path().to_owned();
        let reader = connect(&path).unwrap();
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM documents;")
            .unwrap();
        let restart = std::thread::spawn(move || {
            let checkpointer = Connection::open(&path).unwrap();
            // Longer than the store's own 5 s: it outwaits the store's writer.
            checkpointer
                .busy_timeout(std::time::Duration::from_secs(10))
                .unwrap();
            // The store's own checkpoint thread may hold the checkpoint lock
            // for a moment (this one then answers busy at once): try again.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                let restart = checkpoint::checkpoint(&checkpointer, "RESTART").unwrap();
                if !restart.busy || std::time::Instant::now() > deadline {
                    return restart.busy;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        // The RESTART now holds the write lock, waiting for the reader.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            reader.execute_batch("COMMIT").unwrap();
        });
        store
            .delete(Collection::SyncTasks, tenant, "gone", None)
            .await
            .unwrap();
        release.join().unwrap();
        assert!(!restart.join().unwrap(), "the RESTART completed too");
    }

    /// A new file takes the store's page size; a file made before keeps
    /// its own and stays readable and writable.
    #[tokio::test]
    async fn a_new_file_has_large_pages_and_an_old_one_keeps_its_own() {
        let page_size = |path: &Path| -> i64 {
            Connection::open(path)
                .unwrap()
                .query_row("PRAGMA page_size", [], |row| row.get(0))
                .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_dir(dir.path()).unwrap();
        assert_eq!(page_size(store.path()), PAGE_SIZE);

        let old_path = dir.path().join("old.db");
        Connection::open(&old_path)
            .unwrap()
            .execute_batch("PRAGMA page_size = 4096; CREATE TABLE other (x);")
            .unwrap();
        let old = SqliteStore::open(&old_path).unwrap();
        let tenant = Uuid::new_v4();
        old.create(
            Collection::SyncTasks,
            tenant,
            "t",
            serde_json::json!({"v": 1}),
        )
        .await
        .unwrap();
        let read = old.read(Collection::SyncTasks, tenant, "t").await.unwrap();
        assert_eq!(read.unwrap().body["v"], 1);
        assert_eq!(page_size(&old_path), 4096);
    }

    #[tokio::test]
    async fn documents_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = Uuid::new_v4();
        {
            let store = SqliteStore::open_in_dir(dir.path()).unwrap();
            store
                .create(
                    Collection::SyncTasks,
                    tenant,
                    "kept",
                    serde_json::json!({"v": 1}),
                )
                .await
                .unwrap();
        }
        let reopened = SqliteStore::open_in_dir(dir.path()).unwrap();
        let read = reopened
            .read(Collection::SyncTasks, tenant, "kept")
            .await
            .unwrap();
        assert_eq!(read.unwrap().body["v"], 1);
    }

    #[test]
    fn etags_are_this_process_prefix_and_a_count_in_hex() {
        let (first, second) = (new_etag(), new_etag());
        let (first, second) = (first.as_str(), second.as_str());
        for etag in [first, second] {
            assert_eq!(etag.len(), 32);
            assert!(
                etag.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
        assert_eq!(first[..16], second[..16], "one prefix per process");
        let count = |e: &str| u64::from_str_radix(&e[16..], 16).unwrap();
        assert!(count(second) > count(first), "{first} then {second}");
    }
}
