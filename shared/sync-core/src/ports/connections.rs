//! Refreshing a connection's OAuth tokens: integration-manager holds the
//! credentials and performs the grant.

use async_trait::async_trait;

use crate::domain::TenantId;

/// What a connection refresh came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshAnswer {
    Refreshed,
    Failed(String),
}

/// Guarantees: one call is one refresh request, never repeated by the
/// implementation (a repeated refresh with a rotating refresh token could
/// revoke the first); every failure is `Failed` with a reason a person can act on.
#[async_trait]
pub trait ConnectionRefresher: Send + Sync + 'static {
    async fn refresh_connection(
        &self,
        tenant: TenantId,
        integration_id: &str,
        connection_id: &str,
    ) -> RefreshAnswer;
}
