//! shard-manager's HTTP API: `GET /api/v1/shards/{id}`.

use std::time::Duration;

use async_trait::async_trait;

use crate::{
    auth::TokenIssuer,
    domain::{TenantId, shard::Shard},
    ports::shard_source::{ShardError, ShardSource},
};

const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(300);

pub struct ShardManagerClient {
    http: reqwest::Client,
    base_url: reqwest::Url,
    tokens: TokenIssuer,
}

impl ShardManagerClient {
    pub fn new(base_url: &str, timeout: Duration, tokens: TokenIssuer) -> anyhow::Result<Self> {
        Ok(ShardManagerClient {
            http: crate::outgoing_http::client_builder()
                .timeout(timeout)
                .build()?,
            base_url: reqwest::Url::parse(base_url)?,
            tokens,
        })
    }
}

#[async_trait]
impl ShardSource for ShardManagerClient {
    async fn get_shard(&self, tenant: TenantId, shard_id: &str) -> Result<Shard, ShardError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|_| {
                ShardError::Unexpected(anyhow::anyhow!("shard-manager URL cannot be a base"))
            })?
            .pop_if_empty()
            .extend(["api", "v1", "shards", shard_id]);
        let response = self
            .http
            .get(url)
            .bearer_auth(
                self.tokens
                    .mint("integration-sync", Some(tenant), SERVICE_TOKEN_TTL),
            )
            .header("X-Tenant-ID", tenant.to_string())
            .send()
            .await
            .map_err(|e| ShardError::Unavailable(e.without_url().to_string()))?;
        match response.status().as_u16() {
            200 => {}
            404 | 403 => return Err(ShardError::NotFound(shard_id.to_owned())),
            s if s >= 500 => {
                return Err(ShardError::Unavailable(format!(
                    "shard-manager answered {s}"
                )));
            }
            s => {
                return Err(ShardError::Unexpected(anyhow::anyhow!(
                    "shard-manager answered {s}"
                )));
            }
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| ShardError::Unavailable(e.without_url().to_string()))?;
        let body = match body.get("data") {
            Some(inner) if inner.is_object() => inner.clone(),
            _ => body,
        };
        serde_json::from_value(body).map_err(|e| {
            ShardError::Unexpected(anyhow::anyhow!(
                "shard-manager sent an unreadable shard: {e}"
            ))
        })
    }
}
