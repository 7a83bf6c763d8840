//! Where shards are read from when an event does not carry one: shard-manager.

use async_trait::async_trait;

use crate::domain::{TenantId, shard::Shard};

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("shard {0} not found")]
    NotFound(String),
    #[error("shard-manager unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Guarantees: a shard is returned only to its own tenant.
#[async_trait]
pub trait ShardSource: Send + Sync + 'static {
    async fn get_shard(&self, tenant: TenantId, shard_id: &str) -> Result<Shard, ShardError>;
}
