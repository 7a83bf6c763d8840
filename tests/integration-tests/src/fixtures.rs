//! Integrations for tests: a fresh tenant and a sandbox integration each time.

use serde_json::json;
use sync_core::domain::Integration;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct IntegrationFixture {
    pub tenant: Uuid,
    pub integration: Integration,
}

/// A sandbox integration of a fresh tenant with `records` records per entity type.
pub fn sandbox_integration(entities: &[&str], records: u64) -> IntegrationFixture {
    let tenant = Uuid::new_v4();
    let mappings: Vec<_> = entities
        .iter()
        .map(|e| json!({"externalEntity": e, "enabled": true}))
        .collect();
    let integration = serde_json::from_value(json!({
        "id": Uuid::new_v4().to_string(),
        "tenantId": tenant,
        "providerName": "sandbox",
        "status": "connected",
        "syncConfig": {"syncDirection": "inbound", "entityMappings": mappings},
        "settings": {"sandbox": {"recordsPerEntity": records, "seed": 1}}
    }))
    .expect("valid integration");
    IntegrationFixture {
        tenant,
        integration,
    }
}
