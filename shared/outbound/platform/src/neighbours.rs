//! The neighbours the configuration names, built once over one client.

use std::sync::Arc;

use sync_core::{auth::TokenIssuer, config::Settings};

use crate::{IntegrationManager, PlatformClient, SecretManagement, ShardManager};

/// integration-manager, shard-manager and secret-management, each present
/// when its URL is configured.
#[derive(Clone)]
pub struct Neighbours {
    pub integration_manager: Option<IntegrationManager>,
    pub shard_manager: Option<Arc<ShardManager>>,
    pub secret_management: Option<Arc<SecretManagement>>,
}

impl Neighbours {
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let client = PlatformClient::new(TokenIssuer::new(&settings.jwt))?;
        let services = &settings.services;
        let integration_manager = services
            .integration_manager
            .url
            .as_deref()
            .map(|url| {
                IntegrationManager::new(client.clone(), url, services.integration_manager.timeout)
            })
            .transpose()?;
        let shard_manager = services
            .shard_manager
            .url
            .as_deref()
            .map(|url| {
                ShardManager::new(client.clone(), url, services.shard_manager.timeout).map(Arc::new)
            })
            .transpose()?;
        let secrets = &services.secret_management;
        let secret_management = secrets
            .url
            .as_deref()
            .map(|url| {
                SecretManagement::new(
                    client.clone(),
                    url,
                    secrets.path.as_deref().unwrap_or("/api/secrets"),
                    secrets.timeout,
                    integration_manager.clone(),
                )
            })
            .transpose()?;
        Ok(Neighbours {
            integration_manager,
            shard_manager,
            secret_management,
        })
    }
}
