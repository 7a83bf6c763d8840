//! An inbound run's lifecycle: claim the task, walk the provider (see
//! [`walk`]), record how it ended, publish its end event, release its slot.

mod changes;
mod held;
mod walk;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{RunError, SyncEngine, limits::SlotLease, outage::through_store_outage};
use crate::domain::{
    Integration, SyncExecution, SyncTask, TaskStatus,
    events::{
        EventMetadata, EventType, OutboundEvent, SyncCancelled, SyncCompleted, SyncFailed,
        SyncStarted,
    },
    task::RunLease,
    time,
};

pub(super) use walk::{HandOn, InboundOutcome};

/// How a run left its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunEnd {
    /// Ended (or found in another run's hands): the slot is given back.
    Released,
    /// Handed on before the deadline: the slot stays with the task.
    HandedOn,
}

/// Why a run must stop early.
pub(super) struct RunSignals {
    pub shutdown: CancellationToken,
    pub lease_lost: CancellationToken,
}

/// How a run takes its task.
pub(in crate::engine) enum Claim {
    /// A pending task, started for the first time.
    Fresh,
    /// A running task whose run died or was handed on; `previous` is the
    /// lease it was left with.
    Resume { previous: Option<RunLease> },
}

impl Claim {
    /// How a run takes up `task` as it was read: fresh while it is pending.
    pub(in crate::engine) fn taking_up(task: &SyncTask) -> Claim {
        match task.status {
            TaskStatus::Pending => Claim::Fresh,
            _ => Claim::Resume {
                previous: task.run_lease.clone(),
            },
        }
    }
}

impl SyncEngine {
    /// Runs `task` in the background on this process's runner (see [`Self::execute`]).
    pub(in crate::engine) fn run_in_background(
        self: &Arc<Self>,
        task: SyncTask,
        integration: Integration,
        entities: Vec<String>,
        lease: SlotLease,
        claim: Claim,
    ) {
        let engine = Arc::clone(self);
        let span =
            tracing::info_span!("sync_task", tenant_id = %task.tenant_id, task_id = %task.task_id);
        let cancel = self.runner.cancellation();
        self.runner.spawn(
            async move {
                engine
                    .execute(task, integration, entities, lease, cancel, claim)
                    .await
            }
            .instrument(span),
        );
    }

    /// Runs a task to its end and records how it ended. Never panics on
    /// provider, bus or store failures: they end the task as `failed`. The slot
    /// lease is kept alive meanwhile and released only after the end event is
    /// out, so observers never see more runs than the limit.
    pub(in crate::engine) async fn execute(
        self: Arc<Self>,
        task: SyncTask,
        integration: Integration,
        entities: Vec<String>,
        lease: SlotLease,
        shutdown: CancellationToken,
        claim: Claim,
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
        let end = self
            .execute_leased(
                task,
                integration,
                entities,
                &signals,
                claim,
                lease.run_lease(),
            )
            .await;
        heartbeat.abort();
        if end == RunEnd::Released {
            self.limiter.release(&lease).await;
        }
    }

    async fn execute_leased(
        &self,
        task: SyncTask,
        integration: Integration,
        entities: Vec<String>,
        signals: &RunSignals,
        claim: Claim,
        run_lease: RunLease,
    ) -> RunEnd {
        let execution = match &claim {
            Claim::Fresh => {
                SyncExecution::start(task.task_id, task.tenant_id, task.integration_id.clone())
            }
            Claim::Resume { .. } => self.execution_of(&task).await,
        };
        let metadata = metadata_of(&task, Some(&execution));
        let outcome = match self
            .start(&task, &execution, &metadata, &claim, &run_lease)
            .await
        {
            // Cancelled while it waited to be taken up: it ends here.
            Ok(claimed) if claimed.cancel_requested => Err(RunError::Cancelled),
            Ok(claimed) => {
                let outcome = self
                    .run_inbound(
                        &claimed,
                        &execution,
                        &integration,
                        &entities,
                        &metadata,
                        signals,
                    )
                    .await;
                if let Ok(InboundOutcome {
                    handed_on: Some(stop),
                    ..
                }) = &outcome
                {
                    return match self.hand_on(&claimed, &metadata, stop, &run_lease).await {
                        Ok(true) => RunEnd::HandedOn,
                        Ok(false) => {
                            tracing::warn!("another run took this task over; it goes on");
                            RunEnd::Released
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot hand the task on; recovery resumes it once its lease lapses");
                            RunEnd::Released
                        }
                    };
                }
                outcome
            }
            Err(RunError::AlreadyStarted) => {
                tracing::warn!("task already started elsewhere; this run stands down");
                return RunEnd::Released;
            }
            Err(e) => Err(e),
        };
        self.finish(
            task,
            execution,
            metadata,
            &entities,
            outcome,
            Some(&run_lease),
        )
        .await;
        RunEnd::Released
    }

    /// The execution a dead run left, so the resumed run keeps its
    /// correlation id; a new one if it is gone.
    async fn execution_of(&self, task: &SyncTask) -> SyncExecution {
        let recorded = match task.execution_id {
            Some(id) => self
                .repo
                .get::<SyncExecution>(task.tenant_id, &id.to_string())
                .await
                .ok()
                .flatten()
                .map(|v| v.doc),
            None => None,
        };
        recorded.unwrap_or_else(|| {
            SyncExecution::start(task.task_id, task.tenant_id, task.integration_id.clone())
        })
    }

    /// Claims the task for this run (compare-and-set: of two runs one wins),
    /// recording `sync.started` in the same write for a fresh run, and
    /// publishes it. Returns the task as claimed.
    async fn start(
        &self,
        task: &SyncTask,
        execution: &SyncExecution,
        metadata: &EventMetadata,
        claim: &Claim,
        run_lease: &RunLease,
    ) -> Result<SyncTask, RunError> {
        let execution_id = execution.execution_id;
        let events = match claim {
            Claim::Fresh => vec![self.events.build(
                EventType::SyncStarted,
                task.tenant_id,
                SyncStarted {
                    task_id: task.task_id,
                    execution_id,
                    integration_id: &task.integration_id,
                    direction: task.direction.as_str(),
                },
                metadata,
            )],
            Claim::Resume { .. } => Vec::new(),
        };
        let claimed = self
            .record_task(task.tenant_id, task.task_id, &events, |t| {
                let ours = match claim {
                    Claim::Fresh => t.status == TaskStatus::Pending,
                    Claim::Resume { previous } => {
                        t.status == TaskStatus::Running && &t.run_lease == previous
                    }
                };
                if ours {
                    let now = time::now();
                    t.status = TaskStatus::Running;
                    t.started_at.get_or_insert(now);
                    t.updated_at = now;
                    t.execution_id = Some(execution_id);
                    t.attempts += 1;
                    t.run_lease = Some(run_lease.clone());
                    if let Some(hand_off) = t.hand_off.as_mut() {
                        hand_off.waiting = false;
                    }
                }
                ours
            })
            .await?;
        let Some(claimed) = claimed else {
            return Err(RunError::AlreadyStarted);
        };
        if matches!(claim, Claim::Fresh) {
            self.repo.create(execution).await?;
        }
        metrics::counter!("sync_runs_started_total", "direction" => task.direction.as_str())
            .increment(1);
        self.publish_outbox(&claimed).await?;
        tracing::info!(attempt = claimed.attempts, "sync started");
        Ok(claimed)
    }

    /// Ends a task that cannot be resumed (its integration is gone or was
    /// deactivated while its run was dead) as `failed`, with the reason.
    pub(in crate::engine) async fn abandon(&self, task: SyncTask, why: String) {
        let execution = self.execution_of(&task).await;
        let metadata = metadata_of(&task, Some(&execution));
        let lease = task.run_lease.clone();
        let entities = task.entity_type.clone().into_iter().collect::<Vec<_>>();
        self.finish(
            task,
            execution,
            metadata,
            &entities,
            Err(RunError::NotResumable(why)),
            lease.as_ref(),
        )
        .await;
    }

    async fn finish(
        &self,
        task: SyncTask,
        mut execution: SyncExecution,
        metadata: EventMetadata,
        entities: &[String],
        outcome: Result<InboundOutcome, RunError>,
        run_lease: Option<&RunLease>,
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
                        handed_on: None,
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
        let tolerance = self.settings.outage_tolerance;
        if let Err(e) = through_store_outage(tolerance, "record an execution's end", || {
            self.repo.upsert(&execution)
        })
        .await
        {
            tracing::error!(error = %e, "cannot record the execution's end");
        }
        let event = self.end_event(
            &task,
            &execution,
            &metadata,
            entities,
            &result,
            error.as_deref(),
        );
        // The task's end and its event, in one write.
        let recorded = self
            .record_task(
                task.tenant_id,
                task.task_id,
                std::slice::from_ref(&event),
                |t| {
                    if t.run_lease.is_some() && t.run_lease.as_ref() != run_lease {
                        // Taken for dead and resumed elsewhere: that run records the end.
                        return false;
                    }
                    t.status = status;
                    t.counters = counters.onto(t.counters);
                    t.cursors = result.cursors.clone();
                    t.more_remaining = result.more_remaining;
                    t.completed_at = Some(now);
                    t.updated_at = now;
                    t.error = error.clone();
                    t.run_lease = None;
                    true
                },
            )
            .await;
        match recorded {
            Ok(Some(ended)) => {
                metrics::counter!("sync_runs_ended_total", "status" => status.as_str())
                    .increment(1);
                match self.publish_outbox(&ended).await {
                    Ok(_) => self.settle(task.tenant_id, task.task_id).await,
                    Err(e) => tracing::error!(
                        error = %e,
                        "cannot publish the end of the sync now; it stays in the task's outbox for recovery"
                    ),
                }
            }
            Ok(None) => {
                tracing::warn!("another run took this task over; it records the end");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot record the task's end; recovery resumes it");
                return;
            }
        }
        tracing::info!(
            status = status.as_str(),
            records = counters.records_processed,
            "sync ended"
        );
    }

    fn end_event(
        &self,
        task: &SyncTask,
        execution: &SyncExecution,
        metadata: &EventMetadata,
        entities: &[String],
        result: &InboundOutcome,
        error: Option<&str>,
    ) -> OutboundEvent {
        let (task_id, execution_id, counters) =
            (task.task_id, execution.execution_id, execution.counters);
        match execution.status {
            TaskStatus::Completed => self.events.build(
                EventType::SyncCompleted,
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
                metadata,
            ),
            TaskStatus::Cancelled => self.events.build(
                EventType::SyncCancelled,
                task.tenant_id,
                SyncCancelled {
                    task_id,
                    integration_id: &task.integration_id,
                    execution_id,
                    counters,
                },
                metadata,
            ),
            _ => self.events.build(
                EventType::SyncFailed,
                task.tenant_id,
                SyncFailed {
                    task_id,
                    integration_id: &task.integration_id,
                    execution_id,
                    error: error.unwrap_or("unknown"),
                },
                metadata,
            ),
        }
    }
}

/// The platform's rule wants uuids here: a task an event started has no
/// user (its `triggeredBy` names the event), one a person started has theirs.
/// Before a run has an execution (a hand-off), there is no correlation id yet.
pub(in crate::engine) fn metadata_of(
    task: &SyncTask,
    execution: Option<&SyncExecution>,
) -> EventMetadata {
    EventMetadata {
        correlation_id: execution.map(|e| e.correlation_id),
        causation_id: Some(task.task_id),
        user_id: task
            .triggered_by
            .as_deref()
            .and_then(|by| uuid::Uuid::parse_str(by).ok()),
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
