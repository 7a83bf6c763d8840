//! Cancelling a task. A pending task is cancelled at once; a running one is
//! flagged in the store, so whichever instance runs it sees the flag when it
//! records its next page, stops there and records `cancelled`.

use uuid::Uuid;

use super::SyncEngine;
use crate::{
    domain::{SyncTask, TaskStatus, TenantId, time},
    ports::store::StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("task not found")]
    NotFound,
    #[error("the task already ended ({})", .0.as_str())]
    AlreadyEnded(TaskStatus),
    #[error("the task store failed: {0}")]
    Store(StoreError),
}

impl SyncEngine {
    pub async fn cancel_task(
        &self,
        tenant: TenantId,
        task_id: Uuid,
        by: &str,
    ) -> Result<SyncTask, CancelError> {
        let mut ended = None;
        let updated = self
            .repo
            .update::<SyncTask, _>(tenant, &task_id.to_string(), |task| match task.status {
                TaskStatus::Pending => {
                    let now = time::now();
                    task.status = TaskStatus::Cancelled;
                    task.completed_at = Some(now);
                    task.updated_at = now;
                    task.error = Some(format!("cancelled by {by}"));
                    true
                }
                TaskStatus::Running | TaskStatus::Processing => {
                    task.cancel_requested = true;
                    task.updated_at = time::now();
                    true
                }
                status => {
                    ended = Some(status);
                    false
                }
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound => CancelError::NotFound,
                other => CancelError::Store(other),
            })?;
        match ended {
            Some(status) => Err(CancelError::AlreadyEnded(status)),
            None => Ok(updated.doc),
        }
    }
}
