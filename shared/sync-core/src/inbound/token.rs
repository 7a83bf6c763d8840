//! Refreshing a connection's OAuth tokens, one refresh per connection at a
//! time across every instance: with rotating refresh tokens, two racing
//! refreshes would make the loser revoke the winner. integration-manager holds
//! the credentials and performs the grant; it stores a rotated refresh token
//! before answering, so the next refresh uses it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::{
    domain::{TenantId, time},
    ports::{
        ConnectionRefresher, RefreshAnswer,
        store::{Collection, StoreError},
    },
    repository::{Document, Repository},
};

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
    manager: Option<Arc<dyn ConnectionRefresher>>,
    lease_ttl: Duration,
}

impl TokenRefresher {
    /// `timeout` is integration-manager's; a refresh lease outlives two of them.
    pub fn new(
        repo: Repository,
        manager: Option<Arc<dyn ConnectionRefresher>>,
        timeout: Duration,
    ) -> Self {
        TokenRefresher {
            repo,
            manager,
            lease_ttl: timeout * 2 + Duration::from_secs(5),
        }
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
        let Some(manager) = &self.manager else {
            return RefreshOutcome::Failed("no integration-manager is configured".into());
        };
        match manager
            .refresh_connection(tenant, integration_id, connection_id)
            .await
        {
            RefreshAnswer::Refreshed => RefreshOutcome::Refreshed,
            RefreshAnswer::Failed(reason) => RefreshOutcome::Failed(reason),
        }
    }
}
