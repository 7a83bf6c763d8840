//! Three-way merge of one record, field by field.
//!
//! `base` is the record as last synced, `local` the platform's version (the
//! shard), `remote` the external system's. A field changed on one side only is
//! taken from that side; changed on both sides to the same value is agreement;
//! changed on both sides to different values is a conflict, settled by the
//! integration's strategy or left for a person. The result says what to write
//! to each side: nothing that side already has.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ConflictStrategy;

pub type Fields = Map<String, Value>;

/// Which side wins a field when both changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The external system (source).
    Source,
    /// The platform (target).
    Target,
}

/// How an integration settles conflicts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictPolicy {
    pub strategy: Option<ConflictStrategy>,
    /// For `merge`: per-field winners …
    #[serde(default)]
    pub field_rules: BTreeMap<String, Side>,
    /// … and the winner for fields without a rule (none: they become manual).
    #[serde(default)]
    pub default_rule: Option<Side>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldConflict {
    pub field: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub base: Option<Value>,
    /// The platform's value.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub target: Option<Value>,
    /// The external system's value.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub source: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MergeOutcome {
    /// The record after the merge (unresolved fields keep the base value).
    pub merged: Fields,
    /// Fields to write to the external system.
    pub to_source: Fields,
    /// Fields to write to the platform.
    pub to_target: Fields,
    /// Conflicts the strategy settled.
    pub settled: Vec<FieldConflict>,
    /// Conflicts left for a person; nothing is written for them.
    pub unresolved: Vec<FieldConflict>,
}

impl MergeOutcome {
    pub fn needs_person(&self) -> bool {
        !self.unresolved.is_empty()
    }
}

/// Merges every field of the three versions except `ignored` ones (ids,
/// bookkeeping fields that each side owns).
pub fn three_way(
    base: &Fields,
    target: &Fields,
    source: &Fields,
    policy: &ConflictPolicy,
    ignored: &[&str],
) -> MergeOutcome {
    let fields: BTreeSet<&String> = base
        .keys()
        .chain(target.keys())
        .chain(source.keys())
        .collect();
    let mut outcome = MergeOutcome::default();
    for field in fields {
        if ignored.contains(&field.as_str()) {
            continue;
        }
        let (b, t, s) = (base.get(field), target.get(field), source.get(field));
        let chosen = if t == s {
            t
        } else if t == b {
            s
        } else if s == b {
            t
        } else {
            let conflict = FieldConflict {
                field: field.clone(),
                base: b.cloned(),
                target: t.cloned(),
                source: s.cloned(),
            };
            match winner(policy, field) {
                Some(Side::Source) => {
                    outcome.settled.push(conflict);
                    s
                }
                Some(Side::Target) => {
                    outcome.settled.push(conflict);
                    t
                }
                None => {
                    outcome.unresolved.push(conflict);
                    b
                }
            }
        };
        if let Some(value) = chosen {
            outcome.merged.insert(field.clone(), value.clone());
        }
        let unresolved = outcome.unresolved.last().is_some_and(|c| &c.field == field);
        if unresolved {
            continue;
        }
        if chosen != s {
            outcome
                .to_source
                .insert(field.clone(), chosen.cloned().unwrap_or(Value::Null));
        }
        if chosen != t {
            outcome
                .to_target
                .insert(field.clone(), chosen.cloned().unwrap_or(Value::Null));
        }
    }
    outcome
}

fn winner(policy: &ConflictPolicy, field: &str) -> Option<Side> {
    match policy.strategy.unwrap_or(ConflictStrategy::SourceWins) {
        ConflictStrategy::SourceWins => Some(Side::Source),
        ConflictStrategy::TargetWins => Some(Side::Target),
        ConflictStrategy::Merge => policy
            .field_rules
            .get(field)
            .copied()
            .or(policy.default_rule),
        ConflictStrategy::Manual => None,
    }
}

/// One field's change, as events carry it: `{field, old, new}` (a missing
/// value is `null`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// What changed from `before` to `after`, field by field, in field order.
pub fn change_set(before: &Fields, after: &Fields, ignored: &[&str]) -> Vec<FieldChange> {
    let fields: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    fields
        .into_iter()
        .filter(|f| !ignored.contains(&f.as_str()))
        .filter(|f| before.get(*f) != after.get(*f))
        .map(|f| FieldChange {
            field: f.clone(),
            old: before.get(f).cloned().unwrap_or(Value::Null),
            new: after.get(f).cloned().unwrap_or(Value::Null),
        })
        .collect()
}

#[cfg(test)]
mod tests;
