//! Where integrations come from: integration-manager, or a local file.

use async_trait::async_trait;

use crate::domain::{Integration, TenantId};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("integration {0} not found")]
    NotFound(String),
    #[error("integration directory unavailable: {0}")]
    Unavailable(String),
    /// The integration's document cannot be used; `reason` names the field.
    #[error("integration {id} cannot be used: {reason}")]
    Invalid { id: String, reason: String },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Guarantees: an integration is returned only to its own tenant (another
/// tenant's id is `NotFound`); transient failures are `Unavailable`; a
/// document that cannot be read is `Invalid`, naming what was wrong.
#[async_trait]
pub trait IntegrationDirectory: Send + Sync + 'static {
    async fn get_integration(
        &self,
        tenant: TenantId,
        integration_id: &str,
    ) -> Result<Integration, DirectoryError>;
}
