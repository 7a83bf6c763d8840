//! An integration as integration-manager describes it
//! (castiel2 `containers/integration-manager/src/types/integration.types.ts`):
//! which provider a tenant connected and how it is to be synced.
//!
//! Another service's document, so it is read leniently: unknown fields are
//! ignored, most have defaults, and the names our own earlier files used
//! (`provider`, `syncConfig.direction`, `source_wins`…) are still understood.
//! A value that cannot be understood (an unknown enum value) is an error that
//! names its field; the caller fails that integration, never the request.

use serde::{Deserialize, Serialize};

use super::{
    ConflictStrategy, Direction, TenantId,
    field_mapping::FieldMapping,
    merge::{ConflictPolicy, Side},
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "wire::IntegrationDoc")]
pub struct Integration {
    pub id: String,
    pub tenant_id: TenantId,
    /// Provider key (`providerName`), e.g. `salesforce`, `hubspot`, `sandbox`.
    #[serde(rename = "providerName")]
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `pending`, `connected`, `error` or `disabled`.
    pub status: String,
    pub sync_config: SyncConfig,
    /// The secret in secret-management holding the provider credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_secret_name: Option<String>,
    /// The provider's API host for this tenant (Salesforce's instance URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_url: Option<String>,
    /// Provider-specific settings (e.g. `sandbox.recordsPerEntity`).
    #[serde(default)]
    pub settings: serde_json::Value,
}

/// The platform's `ConflictResolutionMode`, plus this service's own `merge`
/// (per-field rules in `settings.conflictRules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictResolution {
    /// The external system's value wins (`external_wins`, `source_wins`).
    ExternalWins,
    /// The platform's value wins (`internal_wins`, `target_wins`).
    InternalWins,
    /// A person decides.
    Manual,
    /// The side that changed the record last wins.
    LastWriteWins,
    Merge,
}

impl ConflictResolution {
    /// Every spelling accepted, platform names first.
    pub const NAMES: &'static [&'static str] = &[
        "external_wins",
        "internal_wins",
        "manual",
        "last_write_wins",
        "source_wins",
        "target_wins",
        "merge",
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "external_wins" | "source_wins" => ConflictResolution::ExternalWins,
            "internal_wins" | "target_wins" => ConflictResolution::InternalWins,
            "manual" => ConflictResolution::Manual,
            "last_write_wins" => ConflictResolution::LastWriteWins,
            "merge" => ConflictResolution::Merge,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncConfig {
    #[serde(rename = "syncDirection", skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict_resolution: Option<ConflictResolution>,
    pub entity_mappings: Vec<EntityMapping>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityMapping {
    /// The provider's object, e.g. `Opportunity`.
    pub external_entity: String,
    /// The platform's shard type the object maps to, e.g. `c_opportunity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_type_id: Option<String>,
    pub field_mappings: Vec<FieldMapping>,
    pub enabled: bool,
}

impl Integration {
    /// Only a connected integration syncs (our earlier files said `active`).
    pub fn is_active(&self) -> bool {
        self.status.eq_ignore_ascii_case("connected") || self.status.eq_ignore_ascii_case("active")
    }

    /// How conflicts are settled. `newer` is the side that changed the record
    /// last, when both sides' modification times are known; `last_write_wins`
    /// without it falls back to a person.
    pub fn conflict_policy(&self, newer: Option<Side>) -> ConflictPolicy {
        let mut policy: ConflictPolicy = self
            .settings
            .get("conflictRules")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let strategy = match self.sync_config.conflict_resolution {
            None => policy.strategy,
            Some(ConflictResolution::ExternalWins) => Some(ConflictStrategy::SourceWins),
            Some(ConflictResolution::InternalWins) => Some(ConflictStrategy::TargetWins),
            Some(ConflictResolution::Manual) => Some(ConflictStrategy::Manual),
            Some(ConflictResolution::Merge) => Some(ConflictStrategy::Merge),
            Some(ConflictResolution::LastWriteWins) => Some(match newer {
                Some(Side::Source) => ConflictStrategy::SourceWins,
                Some(Side::Target) => ConflictStrategy::TargetWins,
                None => ConflictStrategy::Manual,
            }),
        };
        policy.strategy = strategy;
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

    /// The mapping of a provider object (case-insensitive).
    pub fn mapping_for_entity(&self, entity: &str) -> Option<&EntityMapping> {
        self.sync_config
            .entity_mappings
            .iter()
            .find(|m| m.external_entity.eq_ignore_ascii_case(entity))
    }

    /// The mapping whose shard type is `shard_type_id`.
    pub fn mapping_for_shard_type(&self, shard_type_id: &str) -> Option<&EntityMapping> {
        self.sync_config
            .entity_mappings
            .iter()
            .find(|m| m.shard_type_id.as_deref() == Some(shard_type_id))
    }
}

/// The document as it arrives: each name the platform or our earlier files
/// used is its own optional field, so a document carrying two spellings is
/// read, not refused as a duplicate.
mod wire {
    use serde::Deserialize;

    use super::*;
    use crate::domain::field_mapping::wire::FieldMappingDoc;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct IntegrationDoc {
        id: String,
        tenant_id: TenantId,
        #[serde(default)]
        provider_name: Option<String>,
        #[serde(default)]
        provider: Option<String>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        status: Option<String>,
        #[serde(default)]
        sync_config: Option<SyncConfigDoc>,
        #[serde(default)]
        credential_secret_name: Option<String>,
        #[serde(default)]
        instance_url: Option<String>,
        #[serde(default)]
        settings: serde_json::Value,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SyncConfigDoc {
        #[serde(default)]
        sync_direction: Option<Direction>,
        #[serde(default)]
        direction: Option<Direction>,
        #[serde(default)]
        conflict_resolution: Option<String>,
        #[serde(default)]
        entity_mappings: Vec<EntityMappingDoc>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct EntityMappingDoc {
        #[serde(default)]
        external_entity: Option<String>,
        #[serde(default)]
        external_entity_name: Option<String>,
        #[serde(default)]
        shard_type_id: Option<String>,
        #[serde(default)]
        field_mappings: Vec<FieldMappingDoc>,
        #[serde(default = "enabled_by_default")]
        enabled: bool,
    }

    fn enabled_by_default() -> bool {
        true
    }

    impl TryFrom<IntegrationDoc> for Integration {
        type Error = String;

        fn try_from(doc: IntegrationDoc) -> Result<Self, String> {
            let provider = doc
                .provider_name
                .or(doc.provider)
                .filter(|p| !p.trim().is_empty())
                .ok_or("providerName is missing")?;
            let sync_config = match doc.sync_config {
                None => SyncConfig::default(),
                Some(config) => SyncConfig {
                    direction: config.sync_direction.or(config.direction),
                    conflict_resolution: config
                        .conflict_resolution
                        .map(|name| {
                            ConflictResolution::parse(&name).ok_or_else(|| {
                                format!(
                                    "syncConfig.conflictResolution: unknown value `{name}`, expected one of {}",
                                    ConflictResolution::NAMES.join(", ")
                                )
                            })
                        })
                        .transpose()?,
                    entity_mappings: config
                        .entity_mappings
                        .into_iter()
                        .enumerate()
                        .map(|(i, m)| {
                            let external_entity = m
                                .external_entity
                                .or(m.external_entity_name)
                                .ok_or_else(|| {
                                    format!("syncConfig.entityMappings[{i}].externalEntity is missing")
                                })?;
                            Ok(EntityMapping {
                                external_entity,
                                shard_type_id: m.shard_type_id,
                                field_mappings: m
                                    .field_mappings
                                    .into_iter()
                                    .filter_map(FieldMappingDoc::into_mapping)
                                    .collect(),
                                enabled: m.enabled,
                            })
                        })
                        .collect::<Result<_, String>>()?,
                },
            };
            Ok(Integration {
                id: doc.id,
                tenant_id: doc.tenant_id,
                provider,
                name: doc.name,
                status: doc.status.unwrap_or_else(|| "connected".to_owned()),
                sync_config,
                credential_secret_name: doc.credential_secret_name,
                instance_url: doc.instance_url,
                settings: doc.settings,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn platform_document() -> serde_json::Value {
        // Shaped as integration.types.ts defines `Integration`.
        json!({
            "id": "7d1f6a0e-1f7b-4d5e-8a43-2b1c9e0f3a11",
            "tenantId": "00000000-0000-4000-8000-000000000001",
            "integrationId": "salesforce-catalog-id",
            "providerName": "salesforce",
            "name": "Acme Salesforce",
            "credentialSecretName": "int-tenant-conn-1-creds",
            "authMethod": "oauth",
            "instanceUrl": "https://acme.my.salesforce.com",
            "settings": {},
            "syncConfig": {
                "syncEnabled": true,
                "syncDirection": "bidirectional",
                "syncFrequency": {"type": "interval", "intervalMinutes": 15},
                "entityMappings": [
                    {"id": "m1", "externalEntity": "Opportunity", "shardTypeId": "c_opportunity", "enabled": true,
                     "fieldMappings": [{"externalField": "Amount", "shardField": "amount", "transform": "stringToNumber"}]},
                    {"id": "m2", "externalEntity": "Account", "shardTypeId": "c_account", "enabled": false, "fieldMappings": []}
                ],
                "conflictResolution": "external_wins"
            },
            "status": "connected",
            "enabledAt": "2026-11-01T00:00:00.000Z",
            "enabledBy": "u", "createdAt": "2026-11-01T00:00:00.000Z", "updatedAt": "2026-11-01T00:00:00.000Z"
        })
    }

    #[test]
    fn integration_managers_document_reads_as_the_platform_writes_it() {
        let integration: Integration = serde_json::from_value(platform_document()).unwrap();
        assert_eq!(integration.provider, "salesforce");
        assert_eq!(
            integration.sync_config.direction,
            Some(Direction::Bidirectional)
        );
        assert_eq!(
            integration.sync_config.conflict_resolution,
            Some(ConflictResolution::ExternalWins)
        );
        assert_eq!(
            integration.instance_url.as_deref(),
            Some("https://acme.my.salesforce.com")
        );
        assert_eq!(integration.enabled_entities(), vec!["Opportunity"]);
        let mapping = integration.mapping_for_shard_type("c_opportunity").unwrap();
        assert_eq!(mapping.field_mappings[0].shard_field, "amount");
        assert!(integration.is_active() && integration.syncs_outbound());
    }

    #[test]
    fn the_platforms_conflict_modes_map_onto_strategies() {
        let mut integration: Integration = serde_json::from_value(platform_document()).unwrap();
        let cases = [
            ("external_wins", None, ConflictStrategy::SourceWins),
            ("internal_wins", None, ConflictStrategy::TargetWins),
            ("manual", None, ConflictStrategy::Manual),
            (
                "last_write_wins",
                Some(Side::Source),
                ConflictStrategy::SourceWins,
            ),
            (
                "last_write_wins",
                Some(Side::Target),
                ConflictStrategy::TargetWins,
            ),
            ("last_write_wins", None, ConflictStrategy::Manual),
        ];
        for (name, newer, expected) in cases {
            integration.sync_config.conflict_resolution = ConflictResolution::parse(name);
            assert_eq!(
                integration.conflict_policy(newer).strategy,
                Some(expected),
                "{name}"
            );
        }
    }

    #[test]
    fn an_unknown_conflict_mode_is_an_error_naming_the_field() {
        let mut document = platform_document();
        document["syncConfig"]["conflictResolution"] = json!("coin_flip");
        let error = serde_json::from_value::<Integration>(document)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("syncConfig.conflictResolution") && error.contains("coin_flip"),
            "{error}"
        );
    }

    #[test]
    fn our_earlier_spellings_still_read() {
        let integration: Integration = serde_json::from_value(json!({
            "id": "int-1",
            "tenantId": "00000000-0000-4000-8000-000000000001",
            "provider": "sandbox",
            "status": "active",
            "syncConfig": {"direction": "inbound", "conflictResolution": "source_wins",
                           "entityMappings": [{"externalEntityName": "contact"}]}
        }))
        .unwrap();
        assert_eq!(integration.provider, "sandbox");
        assert_eq!(integration.sync_config.direction, Some(Direction::Inbound));
        assert_eq!(integration.enabled_entities(), vec!["contact"]);
        assert!(integration.is_active());
    }

    #[test]
    fn an_integration_round_trips_through_its_own_serialisation() {
        let integration: Integration = serde_json::from_value(platform_document()).unwrap();
        let again: Integration =
            serde_json::from_value(serde_json::to_value(&integration).unwrap()).unwrap();
        assert_eq!(again, integration);
    }
}
