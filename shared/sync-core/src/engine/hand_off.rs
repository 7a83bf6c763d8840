//! Handing a task to another run, and taking one up.
//!
//! Lambda freezes a function's sandbox as soon as it answers and kills it at
//! its deadline, so two kinds of run end without ending their task:
//! - a trigger that does not run its task (the HTTP API as a function) stores
//!   it `pending` with the slot it claimed;
//! - a run that reaches its invocation's deadline stops at a page boundary
//!   with its page written and records where it stopped (entity types done,
//!   records read, counters, cursors), still `running`.
//!
//! Either way the task keeps its slot lease (`run_lease`), is marked
//! `hand_off.waiting`, and carries `integration.sync.run_requested` in the
//! same write (its outbox), published before the trigger answers or the run
//! ends. The function that owns runs takes the task up: it moves the slot to
//! itself, claims the task with a compare-and-set on the lease, and goes on
//! with the same execution, correlation id, counters and cursors. If no run
//! comes before the lease lapses (the event lost, nothing consuming it),
//! recovery resumes the task like any dead run; of the two, one claim wins.

use std::sync::Arc;

use uuid::Uuid;

use super::{
    Claim, RunError, SyncEngine,
    inbound::{HandOn, metadata_of},
    limits::SlotLease,
};
use crate::{
    domain::{
        SyncTask, TaskStatus, TenantId,
        events::{EventMetadata, EventType, OutboundEvent, SyncRunRequested},
        task::{HandOff, RunLease},
        time,
    },
    engine::limits::LimitError,
    ports::integration_directory::DirectoryError,
};

/// What taking up a handed-over task did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakeUp {
    /// It runs in this process now.
    Started,
    /// Nothing to do: it ended, or another run took it up already.
    NotWaiting(TaskStatus),
    /// Its slot lapsed and no other is free: recovery resumes it when one is.
    NoSlot,
    /// It cannot run any more (integration gone or inactive); ended as failed.
    Abandoned,
}

#[derive(Debug, thiserror::Error)]
pub enum TakeUpError {
    #[error("task {0} not found")]
    NotFound(Uuid),
    #[error("the integration directory is unavailable: {0}")]
    Directory(#[source] DirectoryError),
    #[error(transparent)]
    Run(#[from] RunError),
}

impl crate::ports::Transience for TakeUpError {
    fn is_transient(&self) -> bool {
        match self {
            TakeUpError::NotFound(_) => false,
            TakeUpError::Directory(_) => true,
            TakeUpError::Run(RunError::Store(e)) => e.is_transient(),
            TakeUpError::Run(RunError::Publish(_)) => true,
            TakeUpError::Run(_) => false,
        }
    }
}

impl SyncEngine {
    /// Makes a task about to be created wait for the run that owns it: the
    /// slot it claimed and its run request go into the same write.
    pub(super) fn prepare_hand_off(&self, task: &mut SyncTask, lease: &SlotLease) {
        task.run_lease = Some(lease.run_lease());
        task.hand_off = Some(HandOff {
            waiting: true,
            ..HandOff::default()
        });
        let event = self.run_requested(task, 0, &metadata_of(task, None));
        task.outbox.push(event.to_pending());
    }

    /// Publishes the run request of a task just created. If the broker does
    /// not take it, the request stays in the task's outbox and the task is
    /// stored with its slot: recovery starts it once it is overdue.
    pub(super) async fn hand_off_created(&self, task: &SyncTask) {
        match self.publish_outbox(task).await {
            Ok(_) => tracing::info!("sync task handed to the function that owns runs"),
            Err(e) => tracing::warn!(
                error = %e,
                "cannot publish the run request now; recovery starts the task once it is overdue"
            ),
        }
    }

    /// Records where a run stopped before its deadline and hands the task on
    /// (module documentation). `false` when the task is no longer this run's
    /// (taken for dead and resumed elsewhere): that run goes on.
    pub(super) async fn hand_on(
        &self,
        task: &SyncTask,
        metadata: &EventMetadata,
        stop: &HandOn,
        run_lease: &RunLease,
    ) -> Result<bool, RunError> {
        let continuation = task.hand_off.as_ref().map_or(0, |h| h.continuations) + 1;
        let event = self.run_requested(task, continuation, metadata);
        let now = time::now();
        let written = self
            .record_task(
                task.tenant_id,
                task.task_id,
                std::slice::from_ref(&event),
                |t| {
                    if t.run_lease.as_ref() != Some(run_lease) {
                        return false;
                    }
                    t.hand_off = Some(HandOff {
                        waiting: true,
                        continuations: continuation,
                        entities_done: stop.entities_done,
                        records_read: stop.records_read,
                    });
                    t.counters = stop.counters.onto(t.counters);
                    t.cursors = stop.cursors.clone();
                    t.updated_at = now;
                    true
                },
            )
            .await?;
        let Some(written) = written else {
            return Ok(false);
        };
        metrics::counter!("sync_runs_handed_on_total").increment(1);
        tracing::info!(
            continuation,
            records_read = stop.records_read,
            "deadline near: the run stopped at a page boundary and handed the task on"
        );
        if let Err(e) = self.publish_outbox(&written).await {
            tracing::warn!(error = %e, "cannot publish the run request now; recovery resumes the task once its lease lapses");
        }
        Ok(true)
    }

    fn run_requested(
        &self,
        task: &SyncTask,
        continuation: u32,
        metadata: &EventMetadata,
    ) -> OutboundEvent {
        self.events.build(
            EventType::SyncRunRequested,
            task.tenant_id,
            SyncRunRequested {
                task_id: task.task_id,
                integration_id: &task.integration_id,
                continuation,
            },
            metadata,
        )
    }

    /// Takes up a task handed over (`integration.sync.run_requested`) and
    /// runs it in this process.
    #[tracing::instrument(skip(self), fields(tenant_id = %tenant))]
    pub async fn take_up(
        self: &Arc<Self>,
        tenant: TenantId,
        task_id: Uuid,
    ) -> Result<TakeUp, TakeUpError> {
        let task = self
            .repo
            .get::<SyncTask>(tenant, &task_id.to_string())
            .await
            .map_err(RunError::from)?
            .ok_or(TakeUpError::NotFound(task_id))?
            .doc;
        let waiting = task.hand_off.as_ref().is_some_and(|h| h.waiting);
        if task.status.is_terminal() || !waiting {
            return Ok(TakeUp::NotWaiting(task.status));
        }
        let runnable = self.runnable(&task).await.map_err(TakeUpError::Directory)?;
        let Some((integration, entities)) = runnable else {
            return Ok(TakeUp::Abandoned);
        };
        let holder = Uuid::new_v4();
        let now = time::now();
        let moved = match &task.run_lease {
            Some(handed) => self
                .limiter
                .transfer(tenant, handed, holder, now)
                .await
                .map_err(RunError::from)?,
            None => None,
        };
        let lease = match moved {
            Some(lease) => lease,
            None => match self.limiter.claim_slot(tenant, holder, now).await {
                Ok(lease) => lease,
                Err(LimitError::Rejected(_)) => return Ok(TakeUp::NoSlot),
                Err(LimitError::Store(e)) => return Err(RunError::from(e).into()),
            },
        };
        let claim = Claim::taking_up(&task);
        self.run_in_background(task, integration, entities, lease, claim);
        Ok(TakeUp::Started)
    }
}

#[cfg(test)]
mod tests;
