//! Provider credentials: the port provider adapters read them through (the
//! platform crate implements it over secret-management); held in memory as
//! secrets and never logged.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::{domain::Integration, ports::ProviderError};

#[derive(Clone)]
pub struct Credentials {
    pub access_token: SecretString,
    /// Salesforce's instance URL, for example.
    pub instance_url: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("instance_url", &self.instance_url)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn bearer(&self) -> &str {
        self.access_token.expose_secret()
    }
}

/// Where adapters get credentials. `refresh` is called once when a provider
/// refuses the current ones.
#[async_trait]
pub trait CredentialSource: Send + Sync + 'static {
    async fn get(&self, integration: &Integration) -> Result<Credentials, ProviderError>;
    async fn refresh(&self, integration: &Integration) -> Result<Credentials, ProviderError>;
}
