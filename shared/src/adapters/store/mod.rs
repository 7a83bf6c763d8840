//! Store adapters: Cosmos DB (production) and SQLite (embedded).

pub mod cosmos;
pub mod sqlite;

pub use cosmos::{CosmosStore, CosmosStoreOptions};
pub use sqlite::SqliteStore;
