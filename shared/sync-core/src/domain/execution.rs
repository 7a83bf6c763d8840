//! One run of a task. A task retried or continued gets a new execution.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{RecordCounters, TaskStatus, TenantId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncExecution {
    pub execution_id: Uuid,
    pub task_id: Uuid,
    /// The tenant (partition key).
    pub tenant_id: Uuid,
    pub integration_id: String,
    pub status: TaskStatus,
    #[serde(flatten)]
    pub counters: RecordCounters,
    /// Carried by every event this execution publishes.
    pub correlation_id: Uuid,
    #[serde(with = "crate::domain::time")]
    pub started_at: DateTime<Utc>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::time::option"
    )]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SyncExecution {
    pub fn start(task_id: Uuid, tenant_id: TenantId, integration_id: String) -> Self {
        SyncExecution {
            execution_id: Uuid::new_v4(),
            task_id,
            tenant_id,
            integration_id,
            status: TaskStatus::Running,
            counters: RecordCounters::default(),
            correlation_id: Uuid::new_v4(),
            started_at: crate::domain::time::now(),
            completed_at: None,
            error: None,
        }
    }
}
