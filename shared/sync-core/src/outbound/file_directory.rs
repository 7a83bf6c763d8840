//! Integrations from a local YAML file, for embedded mode and demos.

use std::{collections::HashMap, path::Path};

use async_trait::async_trait;
use serde::Deserialize;

use crate::{
    domain::{Integration, TenantId},
    ports::integration_directory::{DirectoryError, IntegrationDirectory},
};

#[derive(Debug, Deserialize)]
struct IntegrationsFile {
    integrations: Vec<Integration>,
}

pub struct FileDirectory {
    by_key: HashMap<(TenantId, String), Integration>,
}

impl FileDirectory {
    pub fn load(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("cannot read integrations file {}: {e}", path.display())
        })?;
        Self::from_yaml(&text)
            .map_err(|e| anyhow::anyhow!("invalid integrations file {}: {e}", path.display()))
    }

    pub fn from_yaml(text: &str) -> anyhow::Result<Self> {
        let file: IntegrationsFile = serde_yaml_ng::from_str(text)?;
        Ok(Self::from_integrations(file.integrations))
    }

    pub fn from_integrations(integrations: impl IntoIterator<Item = Integration>) -> Self {
        FileDirectory {
            by_key: integrations
                .into_iter()
                .map(|i| ((i.tenant_id, i.id.clone()), i))
                .collect(),
        }
    }
}

#[async_trait]
impl IntegrationDirectory for FileDirectory {
    async fn get_integration(
        &self,
        tenant: TenantId,
        integration_id: &str,
    ) -> Result<Integration, DirectoryError> {
        self.by_key
            .get(&(tenant, integration_id.to_owned()))
            .cloned()
            .ok_or_else(|| DirectoryError::NotFound(integration_id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_shipped_demo_file_loads_and_is_tenant_scoped() {
        let dir =
            FileDirectory::from_yaml(include_str!("../../../../config/integrations.yaml")).unwrap();
        let demo_tenant: TenantId = "00000000-0000-4000-8000-000000000001".parse().unwrap();
        let id = "5f0c8a52-4a1e-4c53-9d2b-0c1d2e3f4a5b";
        let integration = dir.get_integration(demo_tenant, id).await.unwrap();
        assert_eq!(integration.provider, "sandbox");
        assert_eq!(integration.enabled_entities().len(), 3);
        let other = dir.get_integration(TenantId::new_v4(), id).await;
        assert!(matches!(other, Err(DirectoryError::NotFound(_))));
    }
}
