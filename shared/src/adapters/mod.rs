//! Adapters: the concrete implementations of the ports.
//! - `store`: SQLite (embedded);
//! - `bus`: RabbitMQ (lapin) and an in-process bus (embedded);
//! - `provider`: external systems (the `sandbox` generator for demos and benchmarks);
//! - `directory`: integration-manager over HTTP, or a local YAML file.

pub mod bus;
pub mod directory;
pub mod provider;
pub mod shards;
pub mod store;
