//! What the Cosmos DB stores of this process asked of it: requests by kind,
//! documents and their (estimated) sizes. Cost is billed per request, by kind and item size, so
//! this is what the bench turns into request units (BENCHMARKS.md, "cost of
//! syncing 1M records") and what tells a change that adds round trips.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde_json::Value;

/// Every request of every store in the process (a process has one store).
pub(crate) static LEDGER: Ledger = Ledger::new();

/// What this process's Cosmos DB stores have sent so far.
pub fn requests_sent() -> LedgerSnapshot {
    LEDGER.snapshot()
}

#[derive(Debug)]
pub struct Ledger {
    point_reads: AtomicU64,
    point_read_bytes: AtomicU64,
    write_requests: AtomicU64,
    documents_written: AtomicU64,
    written_bytes: AtomicU64,
    query_pages: AtomicU64,
    query_items: AtomicU64,
    query_bytes: AtomicU64,
}

/// The ledger at one moment; subtract two to get what happened between.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LedgerSnapshot {
    /// Point reads sent (a missing document is one too).
    pub point_reads: u64,
    pub point_read_bytes: u64,
    /// Write requests: single writes and transactional batches.
    pub write_requests: u64,
    /// Documents created, replaced, upserted or deleted (each billed).
    pub documents_written: u64,
    pub written_bytes: u64,
    /// Query requests (one per page the server answered).
    pub query_pages: u64,
    pub query_items: u64,
    pub query_bytes: u64,
}

impl LedgerSnapshot {
    pub fn requests(&self) -> u64 {
        self.point_reads + self.write_requests + self.query_pages
    }

    pub fn since(&self, earlier: &LedgerSnapshot) -> LedgerSnapshot {
        LedgerSnapshot {
            point_reads: self.point_reads - earlier.point_reads,
            point_read_bytes: self.point_read_bytes - earlier.point_read_bytes,
            write_requests: self.write_requests - earlier.write_requests,
            documents_written: self.documents_written - earlier.documents_written,
            written_bytes: self.written_bytes - earlier.written_bytes,
            query_pages: self.query_pages - earlier.query_pages,
            query_items: self.query_items - earlier.query_items,
            query_bytes: self.query_bytes - earlier.query_bytes,
        }
    }
}

impl Ledger {
    const fn new() -> Self {
        Ledger {
            point_reads: AtomicU64::new(0),
            point_read_bytes: AtomicU64::new(0),
            write_requests: AtomicU64::new(0),
            documents_written: AtomicU64::new(0),
            written_bytes: AtomicU64::new(0),
            query_pages: AtomicU64::new(0),
            query_items: AtomicU64::new(0),
            query_bytes: AtomicU64::new(0),
        }
    }

    pub(crate) fn point_read(&self, body: Option<&Value>) {
        self.point_reads.fetch_add(1, Relaxed);
        if let Some(body) = body {
            self.point_read_bytes
                .fetch_add(size_of_json(body) as u64, Relaxed);
        }
    }

    /// One request writing `bytes` over `documents` documents.
    pub(crate) fn write(&self, documents: usize, bytes: usize) {
        self.write_requests.fetch_add(1, Relaxed);
        self.documents_written.fetch_add(documents as u64, Relaxed);
        self.written_bytes.fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn query_page(&self, items: &[Value]) {
        self.query_pages.fetch_add(1, Relaxed);
        self.query_items.fetch_add(items.len() as u64, Relaxed);
        let bytes: usize = items.iter().map(size_of_json).sum();
        self.query_bytes.fetch_add(bytes as u64, Relaxed);
    }

    pub fn snapshot(&self) -> LedgerSnapshot {
        LedgerSnapshot {
            point_reads: self.point_reads.load(Relaxed),
            point_read_bytes: self.point_read_bytes.load(Relaxed),
            write_requests: self.write_requests.load(Relaxed),
            documents_written: self.documents_written.load(Relaxed),
            written_bytes: self.written_bytes.load(Relaxed),
            query_pages: self.query_pages.load(Relaxed),
            query_items: self.query_items.load(Relaxed),
            query_bytes: self.query_bytes.load(Relaxed),
        }
    }
}

/// The size of a document as JSON text, estimated without serialising it
/// (within a few percent: quotes, separators and escapes are approximated).
pub(crate) fn size_of_json(value: &Value) -> usize {
    match value {
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| k.len() + 4 + size_of_json(v))
                .sum::<usize>()
        }
        Value::Array(items) => 2 + items.iter().map(|v| size_of_json(v) + 1).sum::<usize>(),
        Value::String(text) => text.len() + 2,
        Value::Number(_) => 8,
        Value::Bool(_) | Value::Null => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_close_to_the_serialised_text() {
        let document = serde_json::json!({
            "id": "rec-1", "tenantId": "00000000-0000-0000-0000-000000000000",
            "snapshot": {"Name": "Acme", "notes": "x".repeat(900), "n": [1, 2, 3]},
            "deleted": false,
        });
        let exact = document.to_string().len() as f64;
        let estimate = size_of_json(&document) as f64;
        assert!(
            (estimate / exact - 1.0).abs() < 0.05,
            "{estimate} vs {exact}"
        );
    }

    #[test]
    fn a_snapshot_difference_is_what_happened_between() {
        let ledger = Ledger::new();
        ledger.write(100, 150_000);
        let before = ledger.snapshot();
        ledger.write(3, 4_000);
        ledger.point_read(None);
        ledger.query_page(&[serde_json::json!({"id": "a"})]);
        let between = ledger.snapshot().since(&before);
        assert_eq!(between.write_requests, 1);
        assert_eq!(between.documents_written, 3);
        assert_eq!(between.point_reads, 1);
        assert_eq!(between.query_items, 1);
        assert_eq!(between.requests(), 3);
    }
}
