//! secret-management (castiel2 `containers/secret-management/src/server.ts`
//! mounts its routes at `/api/secrets`; the gateway alone rewrites
//! `/api/v1/secrets`): `GET {mount}/{id}/value` → `{value}`, where the value
//! is typed (`src/types/secret.types.ts`): `{type: 'OAUTH2_TOKEN',
//! accessToken, refreshToken, tokenType, expiresAt}` or `{type: 'API_KEY',
//! key}`. The provider's instance URL is on the integration, not here.
//!
//! Credentials are cached per integration; a provider's refusal refreshes
//! them through integration-manager's connection refresh, then reads again.

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::Mutex;

use super::{
    client::{Neighbour, NeighbourError, PlatformClient},
    integration_manager::IntegrationManager,
};
use sync_core::{
    domain::Integration,
    ports::ProviderError,
    ports::{ConnectionRefresher, CredentialSource, Credentials, RefreshAnswer},
};

const NAME: &str = "secret-management";

pub struct SecretManagement {
    client: PlatformClient,
    neighbour: Neighbour,
    manager: Option<IntegrationManager>,
    cache: Mutex<HashMap<(uuid::Uuid, String), Credentials>>,
}

impl SecretManagement {
    pub fn new(
        client: PlatformClient,
        url: &str,
        mount: &str,
        timeout: std::time::Duration,
        manager: Option<IntegrationManager>,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(SecretManagement {
            client,
            neighbour: Neighbour::new(NAME, url, mount, timeout)?,
            manager,
            cache: Mutex::new(HashMap::new()),
        }))
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
        let answer = self
            .client
            .get(&self.neighbour, &[name, "value"], integration.tenant_id)
            .await
            .map_err(|e| match e {
                NeighbourError::NotFound { .. } => ProviderError::Unauthorized,
                e @ NeighbourError::Unavailable { .. } => ProviderError::Transient(e.to_string()),
                e => ProviderError::Unexpected(anyhow::anyhow!(e)),
            })?;
        let token = access_token(&answer).ok_or_else(|| {
            ProviderError::Unexpected(anyhow::anyhow!(
                "{NAME}: secret `{name}` holds neither an OAUTH2_TOKEN accessToken nor an API_KEY key"
            ))
        })?;
        Ok(Credentials {
            access_token: SecretString::from(token),
            // Not part of the platform's secret types; read where a writer kept it.
            instance_url: answer
                .pointer("/value/instanceUrl")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// The bearer a secret's value gives: an OAuth access token or an API key.
fn access_token(answer: &Value) -> Option<String> {
    let value = answer.get("value")?;
    ["accessToken", "key"]
        .iter()
        .find_map(|k| value.get(*k).and_then(Value::as_str))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

#[async_trait]
impl CredentialSource for SecretManagement {
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
        // One refresh at a time per integration in this process; the
        // token-refresher's store lease serialises them across instances.
        let mut cache = self.cache.lock().await;
        if let Some(manager) = &self.manager {
            let connection = integration
                .settings
                .get("connectionId")
                .and_then(Value::as_str)
                .unwrap_or(&integration.id)
                .to_owned();
            if let RefreshAnswer::Failed(why) = manager
                .refresh_connection(integration.tenant_id, &integration.id, &connection)
                .await
            {
                tracing::warn!(reason = %why, "refreshing the provider credentials failed");
                return Err(ProviderError::Unauthorized);
            }
        }
        let fresh = self.read_secret(integration).await?;
        cache.insert(key, fresh.clone());
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_secret_types_give_a_bearer() {
        let oauth = json!({"value": {"type": "OAUTH2_TOKEN", "accessToken": "a-1",
                                     "refreshToken": "r", "tokenType": "Bearer"}});
        assert_eq!(access_token(&oauth).as_deref(), Some("a-1"));
        let key = json!({"value": {"type": "API_KEY", "key": "pat-1"}});
        assert_eq!(access_token(&key).as_deref(), Some("pat-1"));
        assert_eq!(
            access_token(&json!({"value": {"type": "USERNAME_PASSWORD"}})),
            None
        );
        assert_eq!(access_token(&json!({})), None);
    }
}
