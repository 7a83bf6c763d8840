//! Provider credentials: read from secret-management, refreshed through
//! integration-manager, held in memory as secrets and never logged.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::{auth::TokenIssuer, domain::Integration, ports::ProviderError};

const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(300);

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretValue {
    access_token: String,
    #[serde(default)]
    instance_url: Option<String>,
}

/// secret-management (`GET /api/v1/secrets/{name}/value`) for reading, and
/// integration-manager's connection refresh for refreshing.
pub struct SecretManagementCredentials {
    http: reqwest::Client,
    secrets_url: reqwest::Url,
    manager_url: Option<reqwest::Url>,
    tokens: TokenIssuer,
    cache: Mutex<HashMap<(uuid::Uuid, String), Credentials>>,
}

impl SecretManagementCredentials {
    pub fn new(
        secrets_url: &str,
        manager_url: Option<&str>,
        timeout: Duration,
        tokens: TokenIssuer,
    ) -> anyhow::Result<Arc<Self>> {
        let http = crate::outgoing_http::client_builder()
            .timeout(timeout)
            .build()?;
        Ok(Arc::new(SecretManagementCredentials {
            http,
            secrets_url: reqwest::Url::parse(secrets_url)?,
            manager_url: manager_url.map(reqwest::Url::parse).transpose()?,
            tokens,
            cache: Mutex::new(HashMap::new()),
        }))
    }

    fn url(base: &reqwest::Url, segments: &[&str]) -> reqwest::Url {
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn read_secret(&self, integration: &Integration) -> Result<Credentials, ProviderError> {
        let name = integration
            .credential_secret_name
            .as_deref()
            .ok_or_else(|| {
                ProviderError::Unsupported(format!(
                    "integration {} has no credentialSecretName",
                    integration.id
                ))
            })?;
        let url = Self::url(&self.secrets_url, &["api", "v1", "secrets", name, "value"]);
        let response = self
            .http
            .get(url)
            .bearer_auth(self.tokens.mint(
                "integration-sync",
                Some(integration.tenant_id),
                SERVICE_TOKEN_TTL,
            ))
            .header("X-Tenant-ID", integration.tenant_id.to_string())
            .send()
            .await
            .map_err(|e| {
                ProviderError::Transient(format!("secret-management: {}", e.without_url()))
            })?;
        if !response.status().is_success() {
            return Err(match response.status().as_u16() {
                404 => ProviderError::Unauthorized,
                s if s >= 500 => {
                    ProviderError::Transient(format!("secret-management answered {s}"))
                }
                s => ProviderError::Unexpected(anyhow::anyhow!("secret-management answered {s}")),
            });
        }
        let body: serde_json::Value = response.json().await.map_err(|e| {
            ProviderError::Transient(format!("secret-management: {}", e.without_url()))
        })?;
        // `{ value: {...} }`, `{ value: "<json>" }` or the credentials themselves.
        let value = match body.get("value") {
            Some(serde_json::Value::String(text)) => {
                serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
            }
            Some(inner) => inner.clone(),
            None => body,
        };
        let secret: SecretValue = serde_json::from_value(value).map_err(|_| {
            ProviderError::Unexpected(anyhow::anyhow!(
                "the credentials secret `{name}` has no accessToken"
            ))
        })?;
        Ok(Credentials {
            access_token: SecretString::from(secret.access_token),
            instance_url: secret.instance_url,
        })
    }
}

#[async_trait]
impl CredentialSource for SecretManagementCredentials {
    async fn get(&self, integration: &Integration) -> Result<Credentials, ProviderError> {
        let key = (integration.tenant_id, integration.id.clone());
        if let Some(cached) = self.cache.lock().await.get(&key) {
            return Ok(cached.clone());
        }
        let fresh = self.read_secret(integration).await?;
        self.cache.lock().await.insert(key, fresh.clone());
        Ok(fresh)
    }

    async fn refresh(&self, integration: &Integration) -> Result<Credentials, ProviderError> {
        let key = (integration.tenant_id, integration.id.clone());
        // One refresh at a time per integration in this process; integration-manager
        // serialises refreshes of a connection across instances.
        let mut cache = self.cache.lock().await;
        if let Some(manager) = &self.manager_url {
            let connection = integration
                .settings
                .get("connectionId")
                .and_then(|v| v.as_str())
                .unwrap_or(&integration.id)
                .to_owned();
            let url = Self::url(
                manager,
                &[
                    "api",
                    "v1",
                    "integrations",
                    &integration.id,
                    "connections",
                    &connection,
                    "refresh",
                ],
            );
            let response = self
                .http
                .post(url)
                .bearer_auth(self.tokens.mint(
                    "integration-sync",
                    Some(integration.tenant_id),
                    SERVICE_TOKEN_TTL,
                ))
                .header("X-Tenant-ID", integration.tenant_id.to_string())
                .send()
                .await
                .map_err(|e| {
                    ProviderError::Transient(format!(
                        "integration-manager refresh: {}",
                        e.without_url()
                    ))
                })?;
            if !response.status().is_success() {
                return Err(ProviderError::Unauthorized);
            }
        }
        let fresh = self.read_secret(integration).await?;
        cache.insert(key, fresh.clone());
        Ok(fresh)
    }
}
