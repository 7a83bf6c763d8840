//! WAL checkpoints on a thread of their own.
//!
//! A checkpoint copies the WAL's pages back into the database file and syncs
//! it. Left to SQLite's automatic checkpoint, the writer does that inline in
//! the commit that crosses the threshold, so every few thousand records a
//! sync's state write stalls for the copy and the fsync (measured: a 200k
//! record sync ran ~25 % faster with no checkpoint at all). Here the writer
//! only nudges a thread that runs PASSIVE checkpoints (they never block the
//! writer or the readers) on a connection of its own.
//!
//! A passive checkpoint copies the frames committed before it started; the
//! WAL starts over from its beginning when a write finds every frame copied.
//! Under writes that never pause that moment may not come, so past
//! [`RESTART_AT_FRAMES`] the thread runs one RESTART checkpoint, which waits
//! for the writer's current transaction and resets the WAL.

use std::{
    path::Path,
    sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    time::Duration,
};

use rusqlite::Connection;
use sync_core::ports::store::StoreError;

/// At least this long between two checkpoints: a copy of the pages of many
/// commits at once (an index page written by each of them is copied once).
const SPACING: Duration = Duration::from_millis(100);

/// Past this much WAL it is reset even if that makes the writer wait for one
/// checkpoint. Counted in frames of the file's own page size: a count fixed
/// for 4 KiB pages let a file of 32 KiB pages grow its WAL to ~200 MiB in a
/// first sync of 1M records.
const RESTART_AT_BYTES: i64 = 64 * 1024 * 1024;

/// How many frames (one page each) make [`RESTART_AT_BYTES`].
pub(crate) fn restart_at_frames(page_size: i64) -> i64 {
    RESTART_AT_BYTES / page_size.max(512)
}

/// The writer's handle on the checkpoint thread; the thread ends when the
/// last store clone holding it is dropped.
pub(crate) struct Checkpointer {
    nudge: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the thread on its own connection to `path`, a file of pages
    /// of `page_size` bytes.
    pub(crate) fn start(
        connection: Connection,
        path: &Path,
        page_size: i64,
    ) -> Result<Self, StoreError> {
        // A RESTART gives up (and is tried again) before a writer waiting
        // for it would (the store's connections wait 5 s).
        connection
            .busy_timeout(Duration::from_secs(1))
            .map_err(|e| StoreError::Unavailable(format!("sqlite: {e}")))?;
        let restart_at = restart_at_frames(page_size);
        let (nudge, nudges) = sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&connection, &nudges, restart_at))
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot start the checkpoint thread for {}: {e}",
                    path.display()
                ))
            })?;
        Ok(Checkpointer { nudge })
    }

    /// Tells the thread that a commit added to the WAL. Never waits: nudges
    /// that arrive while one is pending are the same nudge.
    pub(crate) fn nudge(&self) {
        match self.nudge.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                tracing::warn!(
                    "sqlite checkpoint thread is gone; the WAL grows until the writer's own checkpoint"
                );
            }
        }
    }
}

fn run(connection: &Connection, nudges: &Receiver<()>, restart_at: i64) {
    while nudges.recv().is_ok() {
        match checkpoint(connection, "PASSIVE") {
            Ok(passive) if passive.frames >= restart_at => {
                match checkpoint(connection, "RESTART") {
                    Ok(restart) if restart.busy => tracing::debug!(
                        frames = restart.frames,
                        "sqlite WAL restart waited too long for readers or the writer; tried again on the next nudge"
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "sqlite WAL restart checkpoint failed; tried again on the next nudge")
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "sqlite checkpoint failed; tried again on the next nudge");
            }
        }
        std::thread::sleep(SPACING);
    }
}

/// What `PRAGMA wal_checkpoint` answers.
pub(crate) struct Checkpointed {
    /// The checkpoint could not finish: it gave up waiting (a RESTART for
    /// readers or the writer), or another connection was checkpointing.
    pub(crate) busy: bool,
    /// Frames the WAL holds.
    pub(crate) frames: i64,
}

/// Runs one checkpoint of `mode` on `connection`.
pub(crate) fn checkpoint(connection: &Connection, mode: &str) -> rusqlite::Result<Checkpointed> {
    connection.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok(Checkpointed {
            busy: row.get::<_, i64>(0)? != 0,
            frames: row.get(1)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_is_reset_at_the_same_size_whatever_the_page_size() {
        for page_size in [4096, 16_384, 32_768, 65_536] {
            assert_eq!(
                restart_at_frames(page_size) * page_size,
                64 * 1024 * 1024,
                "{page_size}"
            );
        }
    }

    #[test]
    fn a_nudge_copies_the_wal_back_without_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE t (x BLOB); INSERT INTO t VALUES (zeroblob(100000));")
            .unwrap();
        let checkpointer =
            Checkpointer::start(Connection::open(&path).unwrap(), &path, 4096).unwrap();
        checkpointer.nudge();
        // In WAL mode only a checkpoint writes the database file: it holds
        // the row once the thread has copied it back.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let size = std::fs::metadata(&path).unwrap().len();
            if size > 100_000 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not copied back: {size} bytes"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
