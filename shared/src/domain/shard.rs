//! A shard: the platform's copy of a CRM record, owned by shard-manager.
//! Lenient on input (another service's document).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shard {
    #[serde(alias = "shardId")]
    pub id: String,
    #[serde(default)]
    pub external_id: Option<String>,
    /// The integration the record came from (its id), as integration-processors record it.
    #[serde(default)]
    pub external_source: Option<String>,
    #[serde(default)]
    pub integration_id: Option<String>,
    /// The provider's object name (e.g. `Opportunity`), when the shard records it.
    #[serde(default, alias = "externalEntity")]
    pub entity_type: Option<String>,
    /// The record's fields, with the provider's field names.
    #[serde(default)]
    pub data: Map<String, Value>,
    #[serde(default)]
    pub version: Option<Value>,
}

impl Shard {
    pub fn integration(&self) -> Option<&str> {
        self.integration_id
            .as_deref()
            .or(self.external_source.as_deref())
    }
}
