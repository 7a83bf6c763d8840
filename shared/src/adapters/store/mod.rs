//! Store adapters.

pub mod sqlite;

pub use sqlite::SqliteStore;
