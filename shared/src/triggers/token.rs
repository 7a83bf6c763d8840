//! Refreshing a connection's OAuth tokens, one refresh per connection at a
//! time across every instance: with rotating refresh tokens, two racing
//! refreshes would make the loser revoke the winner. integration-manager holds
//! the credentials and performs the grant; it stores a rotated refresh token
//! before answering, so the next refresh uses it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    auth::TokenIssuer,
    domain::{TenantId, time},
    ports::store::{Collection, StoreError},
    repository::{Document, Repository},
};

const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshLease {
    id: String,
    tenant_id: TenantId,
    holder: uuid::Uuid,
    #[serde(with = "crate::domain::time")]
    expires_at: DateTime<Utc>,
}

impl Document for RefreshLease {
    const COLLECTION: Collection = Collection::Leases;
    fn document_id(&self) -> String {
        self.id.clone()
    }
    fn partition(&self) -> TenantId {
        self.tenant_id
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    Refreshed,
    /// Another instance is refreshing this connection right now.
    AlreadyInProgress,
    Failed(String),
}

#[derive(Clone)]
pub struct TokenRefresher {
    repo: Repository,
    http: reqwest::Client,
    manager_url: Option<reqwest::Url>,
    tokens: TokenIssuer,
    lease_ttl: Duration,
}

impl TokenRefresher {
    pub fn new(
        repo: Repository,
        manager_url: Option<&str>,
        timeout: Duration,
        tokens: TokenIssuer,
    ) -> anyhow::Result<Self> {
        Ok(TokenRefresher {
            repo,
            http: crate::outgoing_http::client_builder()
                .timeout(timeout)
                .build()?,
            manager_url: manager_url.map(reqwest::Url::parse).transpose()?,
            tokens,
            lease_ttl: timeout * 2 + Duration::from_secs(5),
        })
    }

    pub async fn refresh(
        &self,
        tenant: TenantId,
        integration_id: &str,
        connection_id: &str,
    ) -> Result<RefreshOutcome, StoreError> {
        let Some(lease) = self.claim(tenant, connection_id).await? else {
            return Ok(RefreshOutcome::AlreadyInProgress);
        };
        let outcome = self
            .call_manager(tenant, integration_id, connection_id)
            .await;
        // Release: let the next refresh of this connection go ahead at once.
        let _ = self
            .repo
            .store()
            .delete(Collection::Leases, tenant, &lease.id, None)
            .await;
        Ok(outcome)
    }

    async fn claim(
        &self,
        tenant: TenantId,
        connection_id: &str,
    ) -> Result<Option<RefreshLease>, StoreError> {
        let now = time::now();
        let lease = RefreshLease {
            id: format!(
                "refresh-{:032x}",
                xxhash_rust::xxh3::xxh3_128(connection_id.as_bytes())
            ),
            tenant_id: tenant,
            holder: uuid::Uuid::new_v4(),
            expires_at: now + chrono::Duration::from_std(self.lease_ttl).unwrap_or_default(),
        };
        let claimed = match self.repo.get::<RefreshLease>(tenant, &lease.id).await? {
            None => self.repo.create(&lease).await.map(|_| ()),
            Some(current) if current.doc.expires_at <= now => {
                self.repo.replace(&lease, &current.etag).await.map(|_| ())
            }
            Some(_) => return Ok(None),
        };
        match claimed {
            Ok(()) => Ok(Some(lease)),
            Err(StoreError::AlreadyExists | StoreError::PreconditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn call_manager(
        &self,
        tenant: TenantId,
        integration_id: &str,
        connection_id: &str,
    ) -> RefreshOutcome {
        let Some(base) = &self.manager_url else {
            return RefreshOutcome::Failed("no integration-manager is configured".into());
        };
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend([
                "api",
                "v1",
                "integrations",
                integration_id,
                "connections",
                connection_id,
                "refresh",
            ]);
        }
        let answer = self
            .http
            .post(url)
            .bearer_auth(
                self.tokens
                    .mint("integration-sync", Some(tenant), SERVICE_TOKEN_TTL),
            )
            .header("X-Tenant-ID", tenant.to_string())
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(e) => {
                return RefreshOutcome::Failed(format!("integration-manager: {}", e.without_url()));
            }
        };
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if status.is_success()
            && body
                .get("success")
                .and_then(|s| s.as_bool())
                .unwrap_or(true)
        {
            RefreshOutcome::Refreshed
        } else {
            let reason = body
                .get("error")
                .and_then(|e| e.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("integration-manager answered {status}"));
            RefreshOutcome::Failed(reason)
        }
    }
}
