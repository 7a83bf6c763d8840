//! A sync task: one request to move data, and its lifecycle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TenantId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
    Bidirectional,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Bidirectional => "bidirectional",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Pending,
    Running,
    /// Published; waiting for the platform to report mapping results.
    Processing,
    Completed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::Processing => "processing",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

/// The four record counters shared by tasks, executions and completion events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecordCounters {
    /// Records read from the provider (re-reads of the overlap window excluded).
    pub records_processed: u64,
    pub records_created: u64,
    pub records_updated: u64,
    pub records_failed: u64,
    #[serde(default)]
    pub records_deleted: u64,
    /// Read (re-reads of the overlap window included) and identical to what
    /// was last synced: nothing published.
    #[serde(default)]
    pub records_unchanged: u64,
}

impl RecordCounters {
    /// A run's counters as they go onto the stored task: `records_failed` is
    /// counted there by mapping results while the run goes on, so the
    /// stored count is kept, not the run's copy of it.
    pub fn onto(self, stored: RecordCounters) -> RecordCounters {
        RecordCounters {
            records_failed: stored.records_failed,
            ..self
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncTask {
    pub task_id: Uuid,
    /// The tenant (partition key).
    pub tenant_id: Uuid,
    pub integration_id: String,
    pub direction: Direction,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub filters: Option<serde_json::Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::time::option"
    )]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::time::option"
    )]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten)]
    pub counters: RecordCounters,
    /// The execution currently (or last) running this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<Uuid>,
    /// Who asked for it: the token's subject, or the event that triggered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_by: Option<String>,
    /// How far each entity type got: `modifiedAt|externalId` of the last
    /// record synced.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub cursors: std::collections::BTreeMap<String, String>,
    /// The entity types the task walks (so results about its records can be
    /// matched to them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entity_types: Vec<String>,
    /// Shards integration-processors created from this task's records
    /// (`integration.data.mapped` with `created: true`) ...
    #[serde(default)]
    pub shards_created: u64,
    /// ... and shards it updated (`created: false`).
    #[serde(default)]
    pub shards_updated: u64,
    /// The run stopped at `max_records_per_sync`; the next run continues.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more_remaining: bool,
    /// `recordsProcessed` once the entity type being read is done, when the
    /// provider says how many records its query matches (Salesforce, the
    /// sandbox): the difference is what remains of it. Later entity types
    /// are not counted until they are reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_expected: Option<u64>,
    /// Pages read from the provider, across the runs of the task.
    #[serde(default)]
    pub pages_read: u64,
    /// Why the running task waits, while it does (its provider said it is
    /// near its limit); the status stays `running`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Someone asked to cancel the running task; it stops at its next page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel_requested: bool,
    /// How many runs took this task up: more than one when a run died (its
    /// process crashed or lost its lease) and another resumed it from the
    /// cursor, or when a run stopped at its deadline and handed it on.
    #[serde(default)]
    pub attempts: u32,
    /// The run that holds the task now, so a crashed run can be told apart
    /// from a live one (its slot lease lapsed or passed to someone else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub run_lease: Option<RunLease>,
    /// Set once the task was handed to another run (by a trigger that does
    /// not run it, or by a run that reached its invocation's deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub hand_off: Option<HandOff>,
    /// Transactional outbox: events the last change of this document implies,
    /// written in the same write as the change and removed once the broker has
    /// confirmed them. Whatever is left here after a crash is published on
    /// recovery.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub outbox: Vec<PendingEvent>,
    #[serde(with = "crate::domain::time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::domain::time")]
    pub updated_at: DateTime<Utc>,
}

impl SyncTask {
    pub fn new_pending(
        tenant_id: TenantId,
        integration_id: String,
        direction: Direction,
        entity_type: Option<String>,
        filters: Option<serde_json::Value>,
        triggered_by: Option<String>,
    ) -> Self {
        let now = crate::domain::time::now();
        SyncTask {
            task_id: Uuid::new_v4(),
            tenant_id,
            integration_id,
            direction,
            status: TaskStatus::Pending,
            entity_type,
            filters,
            started_at: None,
            completed_at: None,
            error: None,
            counters: RecordCounters::default(),
            execution_id: None,
            triggered_by,
            cancel_requested: false,
            attempts: 0,
            run_lease: None,
            hand_off: None,
            outbox: Vec::new(),
            cursors: Default::default(),
            entity_types: Vec::new(),
            shards_created: 0,
            shards_updated: 0,
            more_remaining: false,
            records_expected: None,
            pages_read: 0,
            message: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// The concurrency slot a run holds (see `engine::limits`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunLease {
    pub slot_id: String,
    pub holder: Uuid,
}

/// A task passed from one run to the next. While `waiting`, the slot lease
/// in `run_lease` is kept for the run that takes the task up (nobody renews
/// it: if no run comes before it lapses, recovery resumes the task).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandOff {
    /// Handed over and not yet taken up.
    pub waiting: bool,
    /// How many runs stopped at a deadline and handed the task on.
    pub continuations: u32,
    /// The task's entity types finished before the last stop, in order: a
    /// continuation starts at the next one.
    pub entities_done: usize,
    /// Records read by the task's runs so far: the read budget
    /// (`max_records_per_sync`) is the task's, whatever its runs.
    pub records_read: u64,
}

/// An event recorded in a document's outbox, exactly as it will be published
/// (same id, so a republish after a crash is a redelivery, not a new event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingEvent {
    pub id: Uuid,
    pub event_type: String,
    pub envelope: serde_json::Value,
}

impl SyncTask {
    /// The task as the API shows it: no storage bookkeeping.
    pub fn for_api(mut self) -> Self {
        self.run_lease = None;
        self.hand_off = None;
        self.outbox = Vec::new();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_serialises_with_the_contract_field_names() {
        let mut task = SyncTask::new_pending(
            Uuid::nil(),
            "int-1".into(),
            Direction::Inbound,
            Some("opportunity".into()),
            None,
            None,
        );
        task.counters.records_processed = 7;
        let json = serde_json::to_value(&task).unwrap();
        for key in [
            "taskId",
            "tenantId",
            "integrationId",
            "direction",
            "status",
            "entityType",
            "recordsProcessed",
            "recordsCreated",
            "recordsUpdated",
            "recordsFailed",
            "createdAt",
            "updatedAt",
        ] {
            assert!(json.get(key).is_some(), "missing {key} in {json}");
        }
        assert_eq!(json["status"], "pending");
        assert_eq!(json["direction"], "inbound");
        assert_eq!(json["recordsProcessed"], 7);
        assert!(json["createdAt"].as_str().unwrap().ends_with('Z'));
        let back: SyncTask = serde_json::from_value(json).unwrap();
        assert_eq!(back, task);
    }
}
