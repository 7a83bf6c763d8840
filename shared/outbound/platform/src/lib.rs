//! The platform's neighbours over HTTP, through one client
//! ([`client::PlatformClient`]: one service token, one error mapping):
//! integration-manager, shard-manager and secret-management, each shaped as
//! the platform's own routes define them (each file names its source), and
//! integration-manager's own adapters as a provider ([`proxy`]).

pub mod client;
pub mod integration_manager;
mod members;
pub mod proxy;
pub mod secret_management;
pub mod shard_manager;

pub use client::{Neighbour, NeighbourError, PlatformClient};
pub use integration_manager::IntegrationManager;
pub use proxy::IntegrationManagerProxy;
pub use secret_management::SecretManagement;
pub use shard_manager::ShardManager;

mod neighbours;
pub use neighbours::Neighbours;
