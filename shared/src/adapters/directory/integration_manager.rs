//! integration-manager's HTTP API: `GET /api/v1/integrations/{id}`.
//!
//! Calls carry a short-lived service token for the tenant and `X-Tenant-ID`, as
//! every platform service expects.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;

use crate::{
    auth::TokenIssuer,
    domain::{Integration, TenantId},
    ports::integration_directory::{DirectoryError, IntegrationDirectory},
};

const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(300);

pub struct IntegrationManagerClient {
    http: reqwest::Client,
    base_url: reqwest::Url,
    tokens: TokenIssuer,
}

impl IntegrationManagerClient {
    pub fn new(base_url: &str, timeout: Duration, tokens: TokenIssuer) -> anyhow::Result<Self> {
        let http = crate::outgoing_http::client_builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        let base_url = reqwest::Url::parse(base_url)?;
        if base_url.cannot_be_a_base() {
            anyhow::bail!("integration-manager URL {base_url} cannot be a base URL");
        }
        Ok(IntegrationManagerClient {
            http,
            base_url,
            tokens,
        })
    }
}

#[async_trait]
impl IntegrationDirectory for IntegrationManagerClient {
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, integration_id))]
    async fn get_integration(
        &self,
        tenant: TenantId,
        integration_id: &str,
    ) -> Result<Integration, DirectoryError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .expect("checked at construction: the URL can be a base")
            .pop_if_empty()
            .extend(["api", "v1", "integrations", integration_id]);
        let token = self
            .tokens
            .mint("integration-sync", Some(tenant), SERVICE_TOKEN_TTL);
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .header("X-Tenant-ID", tenant.to_string())
            .send()
            .await
            .map_err(|e| DirectoryError::Unavailable(format!("integration-manager: {e}")))?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => {
                return Err(DirectoryError::NotFound(integration_id.to_owned()));
            }
            status if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS => {
                return Err(DirectoryError::Unavailable(format!(
                    "integration-manager answered {status}"
                )));
            }
            status => {
                return Err(DirectoryError::Unexpected(anyhow::anyhow!(
                    "integration-manager answered {status}"
                )));
            }
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| DirectoryError::Unavailable(format!("integration-manager: {e}")))?;
        let integration = parse_integration(&body)?;
        // Never act on another tenant's integration, whatever the neighbour says.
        if integration.tenant_id != tenant {
            return Err(DirectoryError::NotFound(integration_id.to_owned()));
        }
        Ok(integration)
    }
}

/// integration-manager answers either the integration or `{ "data": integration }`.
fn parse_integration(body: &[u8]) -> Result<Integration, DirectoryError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        DirectoryError::Unexpected(anyhow::anyhow!(
            "integration-manager sent invalid JSON: {e}"
        ))
    })?;
    let value = match value.get("data") {
        Some(inner) if inner.is_object() => inner.clone(),
        _ => value,
    };
    serde_json::from_value(value).map_err(|e| {
        DirectoryError::Unexpected(anyhow::anyhow!(
            "integration-manager sent an integration this service cannot read: {e}"
        ))
    })
}
