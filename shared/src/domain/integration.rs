//! An integration as integration-manager describes it: which provider a tenant
//! connected and how it is to be synced. Lenient on input, since it is another
//! service's document: unknown fields are ignored and most have defaults.

use serde::{Deserialize, Serialize};

use super::{ConflictStrategy, Direction, TenantId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    pub id: String,
    pub tenant_id: TenantId,
    /// Provider key, e.g. `salesforce`, `hubspot`, `sandbox`.
    pub provider: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_status")]
    pub status: String,
    #[serde(default)]
    pub sync_config: SyncConfig,
    /// Name of the secret in secret-management holding the provider credentials.
    #[serde(default)]
    pub credential_secret_name: Option<String>,
    /// Provider-specific settings (e.g. `sandbox.recordsPerEntity`).
    #[serde(default)]
    pub settings: serde_json::Value,
}

fn default_status() -> String {
    "active".to_owned()
}

impl Integration {
    pub fn is_active(&self) -> bool {
        self.status.eq_ignore_ascii_case("active") || self.status.eq_ignore_ascii_case("connected")
    }

    /// How conflicts are settled: the strategy, and for `merge` the per-field
    /// rules in `settings.conflictRules` (`{fieldRules, defaultRule}`).
    pub fn conflict_policy(&self) -> super::merge::ConflictPolicy {
        let mut policy: super::merge::ConflictPolicy = self
            .settings
            .get("conflictRules")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        policy.strategy = self.sync_config.conflict_resolution.or(policy.strategy);
        policy
    }

    pub fn syncs_outbound(&self) -> bool {
        matches!(
            self.sync_config.direction,
            Some(Direction::Outbound | Direction::Bidirectional)
        )
    }

    /// Entity types to sync when a trigger names none: the enabled mappings.
    pub fn enabled_entities(&self) -> Vec<String> {
        self.sync_config
            .entity_mappings
            .iter()
            .filter(|m| m.enabled)
            .map(|m| m.external_entity.clone())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncConfig {
    #[serde(default)]
    pub direction: Option<Direction>,
    #[serde(default)]
    pub conflict_resolution: Option<ConflictStrategy>,
    #[serde(default)]
    pub entity_mappings: Vec<EntityMapping>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityMapping {
    pub external_entity: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integration_manager_document_with_extra_fields_parses() {
        let json = serde_json::json!({
            "id": "int-1",
            "tenantId": "00000000-0000-4000-8000-000000000001",
            "provider": "salesforce",
            "status": "active",
            "unrelated": {"x": 1},
            "syncConfig": {
                "direction": "bidirectional",
                "conflictResolution": "merge",
                "entityMappings": [
                    {"externalEntity": "Opportunity", "enabled": true, "fieldMappings": []},
                    {"externalEntity": "Account", "enabled": false}
                ]
            }
        });
        let integration: Integration = serde_json::from_value(json).unwrap();
        assert_eq!(
            integration.enabled_entities(),
            vec!["Opportunity".to_owned()]
        );
        assert_eq!(
            integration.sync_config.direction,
            Some(Direction::Bidirectional)
        );
        assert!(integration.is_active());
    }
}
