//! A record as an external system returned it.

use crate::domain::merge::FieldChange;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

/// One external record. The payload stays the provider's JSON text
/// ([`RawValue`]) so publishing it costs no re-encoding.
#[derive(Debug, Clone)]
pub struct ExternalRecord {
    pub entity_type: String,
    pub external_id: String,
    pub modified_at: DateTime<Utc>,
    /// The provider reported the record as deleted.
    pub deleted: bool,
    pub raw: Box<RawValue>,
}

/// How a record differs from what the integration last synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
        }
    }
}

/// A record to publish, and why.
#[derive(Debug, Clone)]
pub struct ChangedRecord {
    pub record: ExternalRecord,
    pub kind: ChangeKind,
    /// For updates: what changed against the last synced snapshot.
    pub changes: Option<Vec<FieldChange>>,
}
