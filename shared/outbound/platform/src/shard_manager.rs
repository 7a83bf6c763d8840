//! shard-manager (castiel2 `containers/shard-manager/src/routes/index.ts`):
//! `GET /api/v1/shards/{id}` → the Shard itself, no wrapper.

use async_trait::async_trait;

use super::client::{Neighbour, NeighbourError, PlatformClient, expect_document};
use sync_core::{
    domain::{TenantId, shard::Shard},
    ports::shard_source::{ShardError, ShardSource},
};

const NAME: &str = "shard-manager";

pub struct ShardManager {
    client: PlatformClient,
    neighbour: Neighbour,
}

impl ShardManager {
    pub fn new(
        client: PlatformClient,
        url: &str,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Self> {
        Ok(ShardManager {
            client,
            neighbour: Neighbour::new(NAME, url, "/", timeout)?,
        })
    }
}

#[async_trait]
impl ShardSource for ShardManager {
    async fn get_shard(&self, tenant: TenantId, shard_id: &str) -> Result<Shard, ShardError> {
        let answer = self
            .client
            .get(&self.neighbour, &["api", "v1", "shards", shard_id], tenant)
            .await
            .map_err(|e| shard_error(shard_id, e))?;
        let route = format!("GET /api/v1/shards/{shard_id}");
        let document = expect_document(NAME, &route, answer, &["id", "structuredData"])
            .map_err(|e| shard_error(shard_id, e))?;
        if document.get("tenantId").and_then(|t| t.as_str()) != Some(&tenant.to_string()) {
            // Never act on another tenant's shard, whatever the neighbour says.
            return Err(ShardError::NotFound(shard_id.to_owned()));
        }
        serde_path_to_error::deserialize(document).map_err(|e| {
            ShardError::Unexpected(anyhow::anyhow!(
                "{NAME} sent shard {shard_id} in a shape this service cannot read ({}: {})",
                e.path(),
                e.inner()
            ))
        })
    }
}

fn shard_error(shard_id: &str, e: NeighbourError) -> ShardError {
    match e {
        NeighbourError::NotFound { .. } => ShardError::NotFound(shard_id.to_owned()),
        e @ (NeighbourError::Unavailable { .. } | NeighbourError::Refused { .. }) => {
            ShardError::Unavailable(e.to_string())
        }
        e @ NeighbourError::Invalid { .. } => ShardError::Unexpected(anyhow::anyhow!(e)),
    }
}
