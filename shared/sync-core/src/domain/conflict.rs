//! A conflict: both sides changed the same record since the last sync.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConflictStrategy {
    SourceWins,
    TargetWins,
    Manual,
    Merge,
}

impl ConflictStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictStrategy::SourceWins => "source_wins",
            ConflictStrategy::TargetWins => "target_wins",
            ConflictStrategy::Manual => "manual",
            ConflictStrategy::Merge => "merge",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncConflict {
    pub conflict_id: Uuid,
    pub task_id: Uuid,
    /// The tenant (partition key).
    pub tenant_id: Uuid,
    /// The integration whose sync found the conflict.
    #[serde(default)]
    pub integration_id: String,
    pub entity_id: String,
    pub entity_type: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub source_data: serde_json::Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub target_data: serde_json::Value,
    pub resolution_strategy: ConflictStrategy,
    /// The record as last synced: what both sides changed from.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub base_data: serde_json::Value,
    /// The fields both sides changed differently.
    #[serde(default)]
    pub conflicting_fields: Vec<super::merge::FieldConflict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_id: Option<String>,
    /// How it was resolved, once it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ConflictStrategy>,
    pub resolved: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::time::option"
    )]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    #[serde(with = "crate::domain::time")]
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_use_the_contract_spelling() {
        let names: Vec<String> = [
            ConflictStrategy::SourceWins,
            ConflictStrategy::TargetWins,
            ConflictStrategy::Manual,
            ConflictStrategy::Merge,
        ]
        .iter()
        .map(|s| {
            serde_json::to_value(s)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
        assert_eq!(names, ["source_wins", "target_wins", "manual", "merge"]);
    }
}
