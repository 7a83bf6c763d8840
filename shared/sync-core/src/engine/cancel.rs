//! Cancelling a task. A pending task is cancelled at once (a slot it was
//! handed over with is given back); a running one is flagged in the store, so
//! whichever instance runs it sees the flag when it records its next page, or
//! when it takes the task up, stops there and records `cancelled`.

use uuid::Uuid;

use super::{SyncEngine, limits::SlotLease};
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
        let mut handed_slot = None;
        let updated = self
            .repo
            .update::<SyncTask, _>(tenant, &task_id.to_string(), |task| match task.status {
                TaskStatus::Pending => {
                    let now = time::now();
                    task.status = TaskStatus::Cancelled;
                    task.completed_at = Some(now);
                    task.updated_at = now;
                    task.error = Some(format!("cancelled by {by}"));
                    handed_slot = task.run_lease.take();
                    if let Some(hand_off) = task.hand_off.as_mut() {
                        hand_off.waiting = false;
                    }
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
        if let Some(slot) = handed_slot {
            self.limiter
                .release(&SlotLease {
                    tenant_id: tenant,
                    slot_id: slot.slot_id,
                    holder: slot.holder,
                })
                .await;
        }
        match ended {
            Some(status) => Err(CancelError::AlreadyEnded(status)),
            None => Ok(updated.doc),
        }
    }
}
