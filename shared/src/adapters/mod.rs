//! Adapters: the concrete implementations of the ports.
//! - `store`: Azure Cosmos DB, and SQLite (embedded);
//! - `bus`: RabbitMQ (lapin) and an in-process bus (embedded);
//! - `provider`: external systems (Salesforce, HubSpot, integration-manager's
//!   own adapters through its `fetch`, and the `sandbox` generator);
//! - `platform`: the platform's neighbours (integration-manager,
//!   shard-manager, secret-management) through one HTTP client;
//! - `directory`: integrations from a local YAML file (embedded mode).

pub mod bus;
pub mod directory;
pub mod platform;
pub mod provider;
pub mod store;
