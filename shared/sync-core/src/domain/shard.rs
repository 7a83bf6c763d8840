//! A shard: the platform's copy of a CRM record, owned by shard-manager
//! (castiel2 `containers/shard-manager/src/types/shard.types.ts`, `Shard`).
//! Lenient on input (another service's document).
//!
//! `structuredData` holds platform field names (after the integration's field
//! mappings). Which external record a shard mirrors is written by
//! integration-processors (`CRMDataMappingConsumer.ts`, `createOrUpdateShard`)
//! into `metadata.{integrationId, externalId, externalSource}` and
//! `sourceDetails.{integrationId, externalId}`; other writers may record it as
//! an `external_relationships[]` entry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    pub id: String,
    #[serde(rename = "shardTypeId", default)]
    pub shard_type_id: Option<String>,
    #[serde(rename = "structuredData", default)]
    pub structured_data: Map<String, Value>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(rename = "sourceDetails", default)]
    pub source_details: Option<Map<String, Value>>,
    #[serde(default)]
    pub external_relationships: Vec<ExternalRelationship>,
    #[serde(rename = "revisionNumber", default)]
    pub revision_number: Option<u64>,
    #[serde(
        rename = "updatedAt",
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::time::option"
    )]
    pub updated_at: Option<DateTime<Utc>>,
}

/// `ExternalRelationship` of shard.types.ts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRelationship {
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub system_type: Option<String>,
    pub external_id: String,
    /// `inbound`, `outbound` or `bidirectional`.
    #[serde(default)]
    pub sync_direction: Option<String>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// The external record a shard mirrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLink {
    pub integration_id: String,
    pub external_id: String,
}

fn text<'m>(map: Option<&'m Map<String, Value>>, key: &str) -> Option<&'m str> {
    map?.get(key)?.as_str().filter(|s| !s.is_empty())
}

impl Shard {
    /// Where the shard came from: `metadata` first (integration-processors
    /// writes it on every create and update), then `sourceDetails`, then an
    /// external relationship that names its integration and may be written to.
    pub fn link(&self) -> Option<ShardLink> {
        let pair = |map: Option<&Map<String, Value>>| {
            Some(ShardLink {
                integration_id: text(map, "integrationId")
                    .or_else(|| text(map, "externalSource"))?
                    .to_owned(),
                external_id: text(map, "externalId")?.to_owned(),
            })
        };
        pair(self.metadata.as_ref())
            .or_else(|| pair(self.source_details.as_ref()))
            .or_else(|| {
                self.external_relationships
                    .iter()
                    .filter(|r| r.sync_direction.as_deref() != Some("inbound"))
                    .find_map(|r| {
                        Some(ShardLink {
                            integration_id: text(r.metadata.as_ref(), "integrationId")?.to_owned(),
                            external_id: r.external_id.clone(),
                        })
                    })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Shaped as shard-manager answers `GET /api/v1/shards/{id}` for a shard
    /// integration-processors created.
    fn shard_from_integration_processors() -> Value {
        json!({
            "id": "3f2d8c1a-5b6e-4f70-9a81-0c2d3e4f5a6b",
            "tenantId": "00000000-0000-4000-8000-000000000001",
            "userId": "system:integration:int-1",
            "shardTypeId": "c_opportunity",
            "structuredData": {"name": "Big deal", "amount": 5000},
            "metadata": {"integrationId": "int-1", "externalId": "006A", "externalSource": "int-1",
                         "syncedAt": "2026-11-30T10:00:00.000Z"},
            "sourceDetails": {"integrationId": "int-1", "externalId": "006A"},
            "acl": [], "revisionId": "r", "revisionNumber": 3, "status": "active", "source": "integration",
            "createdAt": "2026-11-30T10:00:00.000Z", "updatedAt": "2026-11-30T11:00:00.000Z"
        })
    }

    #[test]
    fn a_shard_from_integration_processors_links_to_its_record() {
        let shard: Shard = serde_json::from_value(shard_from_integration_processors()).unwrap();
        assert_eq!(
            shard.link(),
            Some(ShardLink {
                integration_id: "int-1".into(),
                external_id: "006A".into()
            })
        );
        assert_eq!(shard.revision_number, Some(3));
        assert_eq!(shard.structured_data["amount"], 5000);
        assert!(shard.updated_at.is_some());
    }

    #[test]
    fn an_external_relationship_links_when_metadata_does_not() {
        let mut value = shard_from_integration_processors();
        value["metadata"] = json!({"tags": []});
        value.as_object_mut().unwrap().remove("sourceDetails");
        value["external_relationships"] = json!([
            {"id": "r1", "system": "salesforce", "systemType": "crm", "externalId": "IN-ONLY",
             "syncDirection": "inbound", "metadata": {"integrationId": "int-1"}},
            {"id": "r2", "system": "salesforce", "systemType": "crm", "externalId": "006B",
             "syncDirection": "bidirectional", "metadata": {"integrationId": "int-1"}}
        ]);
        let shard: Shard = serde_json::from_value(value).unwrap();
        assert_eq!(shard.link().unwrap().external_id, "006B");
    }

    #[test]
    fn a_shard_made_in_the_platform_is_not_linked() {
        let shard: Shard = serde_json::from_value(json!({
            "id": "s-1", "shardTypeId": "c_opportunity", "structuredData": {"name": "x"}
        }))
        .unwrap();
        assert_eq!(shard.link(), None);
    }
}
