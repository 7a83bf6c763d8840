//! An inbound run's lifecycle: claim the task, walk the provider (see
//! [`walk`]), record how it ended, publish its end event, release its slot.

mod changes;
mod walk;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{RunError, SyncEngine, limits::SlotLease};
use crate::domain::{
    Integration, SyncExecution, SyncTask, TaskStatus,
    events::{EventMetadata, SyncCancelled, SyncCompleted, SyncFailed, SyncStarted, types},
    time,
};

pub(super) use walk::InboundOutcome;

/// Why a run must stop early.
pub(super) struct RunSignals {
    pub shutdown: CancellationToken,
    pub lease_lost: CancellationToken,
}

impl SyncEngine {
    /// Runs a pending task to its end and records how it ended. Never panics on
    /// provider, bus or store failures: they end the task as `failed`. The slot
    /// lease is kept alive meanwhile and released only after the end event is
    /// out, so observers never see more runs than the limit.
    pub(super) async fn execute(
        self: Arc<Self>,
        task: SyncTask,
        integration: Integration,
        entities: Vec<String>,
        lease: SlotLease,
        shutdown: CancellationToken,
    ) {
        let lease_lost = CancellationToken::new();
        let heartbeat = tokio::spawn(keep_leased(
            self.limiter.clone(),
            lease.clone(),
            lease_lost.clone(),
        ));
        let signals = RunSignals {
            shutdown,
            lease_lost,
        };
        self.execute_leased(task, integration, entities, &signals)
            .await;
        heartbeat.abort();
        self.limiter.release(&lease).await;
    }

    async fn execute_leased(
        &self,
        task: SyncTask,
        integration: Integration,
        entities: Vec<String>,
        signals: &RunSignals,
    ) {
        let execution =
            SyncExecution::start(task.task_id, task.tenant_id, task.integration_id.clone());
        let metadata = EventMetadata {
            correlation_id: Some(execution.correlation_id.to_string()),
            causation_id: Some(task.task_id.to_string()),
            user_id: task.triggered_by.clone(),
        };
        let outcome = match self.start(&task, &execution, &metadata).await {
            Ok(()) => {
                self.run_inbound(
                    &task,
                    &execution,
                    &integration,
                    &entities,
                    &metadata,
                    signals,
                )
                .await
            }
            Err(RunError::AlreadyStarted) => {
                tracing::warn!("task already started elsewhere; this run stands down");
                return;
            }
            Err(e) => Err(e),
        };
        self.finish(task, execution, metadata, &entities, outcome)
            .await;
    }

    async fn start(
        &self,
        task: &SyncTask,
        execution: &SyncExecution,
        metadata: &EventMetadata,
    ) -> Result<(), RunError> {
        let execution_id = execution.execution_id;
        // Compare-and-set pending -> running: of two runs of one task, one wins.
        let mut claimed = false;
        self.repo
            .update::<SyncTask, _>(task.tenant_id, &task.task_id.to_string(), |t| {
                claimed = t.status == TaskStatus::Pending;
                if claimed {
                    t.status = TaskStatus::Running;
                    t.started_at = Some(time::now());
                    t.updated_at = time::now();
                    t.execution_id = Some(execution_id);
                }
                claimed
            })
            .await?;
        if !claimed {
            return Err(RunError::AlreadyStarted);
        }
        self.repo.create(execution).await?;
        let started = self.events.build(
            types::SYNC_STARTED,
            task.tenant_id,
            SyncStarted {
                task_id: task.task_id,
                execution_id,
                integration_id: &task.integration_id,
                direction: task.direction.as_str(),
            },
            metadata,
        );
        self.bus.publish(&[started]).await?;
        metrics::counter!("sync_runs_started_total", "direction" => task.direction.as_str())
            .increment(1);
        tracing::info!("sync started");
        Ok(())
    }

    async fn finish(
        &self,
        task: SyncTask,
        mut execution: SyncExecution,
        metadata: EventMetadata,
        entities: &[String],
        outcome: Result<InboundOutcome, RunError>,
    ) {
        let now = time::now();
        let (status, result, error) = match outcome {
            Ok(result) => (TaskStatus::Completed, result, None),
            Err(e) => {
                let status = match e {
                    RunError::Cancelled => TaskStatus::Cancelled,
                    _ => TaskStatus::Failed,
                };
                tracing::warn!(error = %e, status = status.as_str(), "sync stopped");
                // What the run recorded before it stopped.
                let recorded = self.get_task(task.tenant_id, task.task_id).await.ok();
                let result = recorded
                    .map(|t| InboundOutcome {
                        counters: t.counters,
                        cursors: t.cursors,
                        more_remaining: false,
                    })
                    .unwrap_or_default();
                (status, result, Some(e.to_string()))
            }
        };
        let counters = result.counters;
        execution.status = status;
        execution.counters = counters;
        execution.completed_at = Some(now);
        execution.error = error.clone();
        if let Err(e) = self.repo.upsert(&execution).await {
            tracing::error!(error = %e, "cannot record the execution's end");
        }
        let recorded = self
            .repo
            .update::<SyncTask, _>(task.tenant_id, &task.task_id.to_string(), |t| {
                t.status = status;
                t.counters = counters;
                t.cursors = result.cursors.clone();
                t.more_remaining = result.more_remaining;
                t.completed_at = Some(now);
                t.updated_at = now;
                t.error = error.clone();
                true
            })
            .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e, "cannot record the task's end");
        }
        let (task_id, execution_id) = (task.task_id, execution.execution_id);
        let event = match status {
            TaskStatus::Completed => self.events.build(
                types::SYNC_COMPLETED,
                task.tenant_id,
                SyncCompleted {
                    task_id,
                    integration_id: &task.integration_id,
                    execution_id,
                    counters,
                    entity_types: entities,
                    cursors: &result.cursors,
                    more_remaining: result.more_remaining,
                },
                &metadata,
            ),
            TaskStatus::Cancelled => self.events.build(
                types::SYNC_CANCELLED,
                task.tenant_id,
                SyncCancelled {
                    task_id,
                    integration_id: &task.integration_id,
                    execution_id,
                    counters,
                },
                &metadata,
            ),
            _ => self.events.build(
                types::SYNC_FAILED,
                task.tenant_id,
                SyncFailed {
                    task_id,
                    integration_id: &task.integration_id,
                    execution_id,
                    error: error.as_deref().unwrap_or("unknown"),
                },
                &metadata,
            ),
        };
        if let Err(e) = self.bus.publish(&[event]).await {
            tracing::error!(error = %e, "cannot publish the end of the sync");
        }
        metrics::counter!("sync_runs_ended_total", "status" => status.as_str()).increment(1);
        tracing::info!(
            status = status.as_str(),
            records = counters.records_processed,
            "sync ended"
        );
    }
}

/// Renews the slot lease at a third of its lifetime; signals `lost` when it
/// cannot (another run took the slot, or the store stayed down past expiry).
async fn keep_leased(
    limiter: super::limits::SyncLimiter,
    lease: SlotLease,
    lost: CancellationToken,
) {
    let ttl = limiter.settings().lease_ttl;
    let mut last_renewed = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(ttl / 3);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match limiter.renew(&lease, time::now()).await {
            Ok(true) => last_renewed = tokio::time::Instant::now(),
            Ok(false) => break,
            Err(e) if last_renewed.elapsed() < ttl => {
                tracing::warn!(error = %e, "cannot renew the sync lease; retrying");
            }
            Err(_) => break,
        }
    }
    tracing::warn!(slot = %lease.slot_id, "the sync lost its concurrency lease");
    lost.cancel();
}
