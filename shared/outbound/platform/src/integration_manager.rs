//! integration-manager (castiel2 `containers/integration-manager/src/routes/index.ts`):
//! - `GET /api/v1/integrations/{id}` → the integration itself, no wrapper;
//! - `POST /api/v1/integrations/{id}/fetch` `{direction, entityType, filters,
//!   limit, offset}` → a bare array of records (its adapter does the call);
//! - `POST /api/v1/integrations/{id}/connections/{connectionId}/refresh` →
//!   `{success}` or `{error: {code, message}}`.
//!
//! There is no push route: writes go to providers natively.

use async_trait::async_trait;
use serde_json::{Value, json, value::RawValue};

use super::client::{Neighbour, NeighbourError, PlatformClient, expect_document};
use sync_core::{
    domain::{Integration, TenantId},
    ports::{
        ConnectionRefresher, RefreshAnswer,
        integration_directory::{DirectoryError, IntegrationDirectory},
    },
};

const NAME: &str = "integration-manager";

#[derive(Clone)]
pub struct IntegrationManager {
    client: PlatformClient,
    neighbour: Neighbour,
}

impl IntegrationManager {
    pub fn new(
        client: PlatformClient,
        url: &str,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Self> {
        Ok(IntegrationManager {
            client,
            neighbour: Neighbour::new(NAME, url, "/", timeout)?,
        })
    }

    /// One page of records through integration-manager's own adapter, each
    /// as the JSON text the route sent.
    pub async fn fetch(
        &self,
        integration: &Integration,
        entity_type: &str,
        filters: Option<&Value>,
        limit: usize,
        offset: u64,
    ) -> Result<Vec<Box<RawValue>>, NeighbourError> {
        let body = json!({
            "direction": "inbound",
            "entityType": entity_type,
            "filters": filters.cloned().unwrap_or_else(|| json!({})),
            "limit": limit,
            "offset": offset,
        });
        let answer = self
            .client
            .post_read(
                &self.neighbour,
                &["api", "v1", "integrations", &integration.id, "fetch"],
                integration.tenant_id,
                &body,
            )
            .await?;
        serde_json::from_slice::<Vec<Box<RawValue>>>(&answer).map_err(|e| {
            let start = String::from_utf8_lossy(&answer[..answer.len().min(80)]).into_owned();
            NeighbourError::Invalid {
                neighbour: NAME,
                detail: format!("fetch answered `{start}` where its route returns an array ({e})"),
            }
        })
    }
}

#[async_trait]
impl ConnectionRefresher for IntegrationManager {
    /// Asks integration-manager to refresh a connection's OAuth tokens (it
    /// holds the credentials and stores a rotated refresh token before it
    /// answers). Sent once: a repeated refresh could revoke the first.
    async fn refresh_connection(
        &self,
        tenant: TenantId,
        integration_id: &str,
        connection_id: &str,
    ) -> RefreshAnswer {
        let route = [
            "api",
            "v1",
            "integrations",
            integration_id,
            "connections",
            connection_id,
            "refresh",
        ];
        match self
            .client
            .post_once(&self.neighbour, &route, tenant, None)
            .await
        {
            Ok(answer) if answer.get("success").and_then(Value::as_bool) == Some(false) => {
                RefreshAnswer::Failed(format!(
                    "{NAME} could not refresh connection {connection_id}"
                ))
            }
            Ok(_) => RefreshAnswer::Refreshed,
            Err(e) => RefreshAnswer::Failed(e.to_string()),
        }
    }
}

#[async_trait]
impl IntegrationDirectory for IntegrationManager {
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, integration_id))]
    async fn get_integration(
        &self,
        tenant: TenantId,
        integration_id: &str,
    ) -> Result<Integration, DirectoryError> {
        let answer = self
            .client
            .get(
                &self.neighbour,
                &["api", "v1", "integrations", integration_id],
                tenant,
            )
            .await
            .map_err(|e| directory_error(integration_id, e))?;
        let route = format!("GET /api/v1/integrations/{integration_id}");
        let document = expect_document(NAME, &route, answer, &["id", "tenantId"])
            .map_err(|e| directory_error(integration_id, e))?;
        let integration = parse(integration_id, document)?;
        // Never act on another tenant's integration, whatever the neighbour says.
        if integration.tenant_id != tenant {
            return Err(DirectoryError::NotFound(integration_id.to_owned()));
        }
        Ok(integration)
    }
}

/// The document as [`Integration`]; what cannot be read is named by its path.
pub fn parse(integration_id: &str, document: Value) -> Result<Integration, DirectoryError> {
    serde_path_to_error::deserialize(document).map_err(|e| DirectoryError::Invalid {
        id: integration_id.to_owned(),
        reason: match e.path().to_string().as_str() {
            "." => e.inner().to_string(),
            path => format!("{path}: {}", e.inner()),
        },
    })
}

fn directory_error(integration_id: &str, e: NeighbourError) -> DirectoryError {
    match e {
        NeighbourError::NotFound { .. } => DirectoryError::NotFound(integration_id.to_owned()),
        NeighbourError::Invalid { .. } => DirectoryError::Invalid {
            id: integration_id.to_owned(),
            reason: e.to_string(),
        },
        // A refused token is this deployment's to fix (the shared secret);
        // the trigger can be retried once it is.
        e @ (NeighbourError::Unavailable { .. } | NeighbourError::Refused { .. }) => {
            DirectoryError::Unavailable(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_value_is_named_by_its_path() {
        let error = parse(
            "i-1",
            json!({
                "id": "i-1", "tenantId": "00000000-0000-4000-8000-000000000001",
                "providerName": "salesforce",
                "syncConfig": {"syncDirection": "sideways", "entityMappings": []}
            }),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("sideways") && error.contains("i-1"),
            "{error}"
        );
    }
}
