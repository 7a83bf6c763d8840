//! An inbound run: provider pages in, events out, progress recorded per page.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{
    RunError, SyncEngine,
    limits::SlotLease,
    publisher::{Outgoing, PublishContext, RecordPublisher},
};
use crate::{
    domain::{
        Integration, RecordCounters, SyncExecution, SyncTask, TaskStatus,
        events::{EventMetadata, SyncCancelled, SyncCompleted, SyncFailed, SyncStarted, types},
    },
    ports::{PageRequest, Provider},
};

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
        self.finish(task, execution, metadata, outcome).await;
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
                    t.started_at = Some(crate::domain::time::now());
                    t.updated_at = crate::domain::time::now();
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

    async fn run_inbound(
        &self,
        task: &SyncTask,
        execution: &SyncExecution,
        integration: &Integration,
        entities: &[String],
        metadata: &EventMetadata,
        signals: &RunSignals,
    ) -> Result<RecordCounters, RunError> {
        let provider = self.providers.get(&integration.provider).ok_or_else(|| {
            RunError::Provider(crate::ports::ProviderError::Unsupported(
                integration.provider.clone(),
            ))
        })?;
        let mut publisher = RecordPublisher::new(PublishContext {
            task,
            execution,
            provider: &integration.provider,
            events: &self.events,
            metadata: metadata.clone(),
            batch_threshold: self.settings.batch_threshold,
            batch_size: self.settings.batch_size,
        });
        let mut counters = RecordCounters::default();
        for entity in entities {
            let mut cursor = None;
            loop {
                let request = PageRequest {
                    entity_type: entity.clone(),
                    cursor: cursor.take(),
                    page_size: self.settings.page_size,
                    filters: task.filters.clone(),
                };
                let page = tokio::select! {
                    biased;
                    _ = signals.shutdown.cancelled() => return Err(RunError::Interrupted),
                    _ = signals.lease_lost.cancelled() => return Err(RunError::LeaseLost),
                    page = fetch(provider.as_ref(), integration, request) => page?,
                };
                let outgoing = publisher.add_page(page.records);
                self.publish_progress(task, execution, outgoing, &mut counters)
                    .await?;
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        let rest = publisher.finish();
        self.publish_progress(task, execution, rest, &mut counters)
            .await?;
        Ok(counters)
    }

    /// Publishes (confirmed) and only then counts and records the progress.
    async fn publish_progress(
        &self,
        task: &SyncTask,
        execution: &SyncExecution,
        outgoing: Outgoing,
        counters: &mut RecordCounters,
    ) -> Result<(), RunError> {
        if outgoing.events.is_empty() {
            return Ok(());
        }
        self.bus.publish(&outgoing.events).await?;
        counters.records_processed += outgoing.records;
        metrics::counter!("sync_records_published_total").increment(outgoing.records);
        let snapshot = *counters;
        let mut cancel_requested = false;
        self.repo
            .update::<SyncTask, _>(task.tenant_id, &task.task_id.to_string(), |t| {
                t.counters = snapshot;
                t.updated_at = crate::domain::time::now();
                cancel_requested = t.cancel_requested;
                true
            })
            .await?;
        let mut progress = execution.clone();
        progress.counters = snapshot;
        self.repo.upsert(&progress).await?;
        if cancel_requested {
            return Err(RunError::Cancelled);
        }
        Ok(())
    }

    async fn finish(
        &self,
        task: SyncTask,
        mut execution: SyncExecution,
        metadata: EventMetadata,
        outcome: Result<RecordCounters, RunError>,
    ) {
        let now = crate::domain::time::now();
        let (status, counters, error) = match outcome {
            Ok(counters) => (TaskStatus::Completed, counters, None),
            Err(e) => {
                let status = match e {
                    RunError::Cancelled => TaskStatus::Cancelled,
                    _ => TaskStatus::Failed,
                };
                tracing::warn!(error = %e, status = status.as_str(), "sync stopped");
                let counters = self
                    .get_task(task.tenant_id, task.task_id)
                    .await
                    .map(|t| t.counters)
                    .unwrap_or_default();
                (status, counters, Some(e.to_string()))
            }
        };
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
        let event = match (status, &error) {
            (TaskStatus::Completed, _) => self.events.build(
                types::SYNC_COMPLETED,
                task.tenant_id,
                SyncCompleted {
                    task_id,
                    execution_id,
                    counters,
                },
                &metadata,
            ),
            (TaskStatus::Cancelled, _) => self.events.build(
                types::SYNC_CANCELLED,
                task.tenant_id,
                SyncCancelled {
                    task_id,
                    execution_id,
                    counters,
                },
                &metadata,
            ),
            (_, reason) => self.events.build(
                types::SYNC_FAILED,
                task.tenant_id,
                SyncFailed {
                    task_id,
                    execution_id,
                    error: reason.as_deref().unwrap_or("unknown"),
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

/// Why a run must stop early.
struct RunSignals {
    shutdown: CancellationToken,
    lease_lost: CancellationToken,
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
        match limiter.renew(&lease, crate::domain::time::now()).await {
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

async fn fetch(
    provider: &dyn Provider,
    integration: &Integration,
    request: PageRequest,
) -> Result<crate::ports::RecordPage, RunError> {
    Ok(provider.fetch_page(integration, request).await?)
}
