//! Recovery of runs whose process died.
//!
//! Tasks live in their tenant's partition, and the store is never queried
//! across partitions, so every started task also leaves an *active-run marker*
//! in one system partition. The marker is written before the task and removed
//! only once the task has ended and its outbox is empty. A periodic sweep (the
//! container's timer, the scheduled function) walks the markers and:
//! - publishes what an ended task's outbox still holds, then drops the marker;
//! - resumes a running task whose slot lease is no longer held (its process
//!   died or was cut off past the lease) from its cursor, in this process;
//! - starts a pending task whose trigger died before starting it.
//!
//! A resumed run claims the task with a compare-and-set on the dead run's
//! lease, so of two sweepers that find the same orphan one resumes it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use uuid::Uuid;

use super::{Claim, RunError, SyncEngine, TriggerRequest, limits::LimitError};
use crate::{
    domain::{Integration, SYSTEM_PARTITION, SyncTask, TaskStatus, TenantId, time},
    ports::{
        integration_directory::DirectoryError,
        store::{Collection, Filter, Query, StoreError},
    },
    repository::Document,
};

const MARKER_KIND: &str = "active-run";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActiveRun {
    id: String,
    /// Always the system partition.
    tenant_id: TenantId,
    kind: String,
    task_tenant_id: TenantId,
    task_id: Uuid,
    #[serde(with = "crate::domain::time")]
    created_at: DateTime<Utc>,
}

impl Document for ActiveRun {
    const COLLECTION: Collection = Collection::Leases;
    fn document_id(&self) -> String {
        self.id.clone()
    }
    fn partition(&self) -> TenantId {
        SYSTEM_PARTITION
    }
}

fn marker_id(tenant: TenantId, task_id: Uuid) -> String {
    format!("run-{tenant}-{task_id}")
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Dead runs (or never-started tasks) taken up again.
    pub resumed: usize,
    /// Events published from outboxes a run could not empty itself.
    pub outbox_events: usize,
    /// Markers of ended tasks removed.
    pub settled: usize,
}

impl SyncEngine {
    pub(super) async fn mark_active(&self, task: &SyncTask) -> Result<(), StoreError> {
        let marker = ActiveRun {
            id: marker_id(task.tenant_id, task.task_id),
            tenant_id: SYSTEM_PARTITION,
            kind: MARKER_KIND.into(),
            task_tenant_id: task.tenant_id,
            task_id: task.task_id,
            created_at: time::now(),
        };
        self.repo.upsert(&marker).await.map(|_| ())
    }

    /// Drops the marker of a task that ended with an empty outbox. A failure
    /// only leaves work for the next sweep.
    pub(super) async fn settle(&self, tenant: TenantId, task_id: Uuid) {
        let id = marker_id(tenant, task_id);
        match self
            .repo
            .store()
            .delete(Collection::Leases, SYSTEM_PARTITION, &id, None)
            .await
        {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot drop an active-run marker; the next sweep will")
            }
        }
    }

    /// Sweeps now and every `period` until `shutdown`.
    pub async fn run_recovery(
        self: Arc<Self>,
        period: std::time::Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        crate::runtime::every(period, shutdown, || async {
            if let Err(e) = self.recover().await {
                tracing::warn!(error = %e, "recovery sweep failed; retrying at the next tick");
            }
        })
        .await
    }

    /// One sweep over every active-run marker (see the module documentation).
    pub async fn recover(self: &Arc<Self>) -> Result<RecoveryReport, StoreError> {
        let query = Query {
            filters: vec![Filter::eq("kind", MARKER_KIND)],
            order_by: "createdAt",
            descending: false,
        };
        let mut report = RecoveryReport::default();
        let mut continuation = None;
        loop {
            let page = self
                .repo
                .query::<ActiveRun>(SYSTEM_PARTITION, &query, 100, continuation.as_deref())
                .await?;
            for marker in page.items {
                let span = tracing::info_span!("recover", tenant_id = %marker.task_tenant_id, task_id = %marker.task_id);
                if let Err(e) = self
                    .recover_one(&marker, &mut report)
                    .instrument(span)
                    .await
                {
                    tracing::warn!(task_id = %marker.task_id, error = %e, "cannot recover a task now; the next sweep retries");
                }
            }
            continuation = page.continuation;
            if continuation.is_none() {
                break;
            }
        }
        if report != RecoveryReport::default() {
            tracing::info!(?report, "recovery sweep");
        }
        Ok(report)
    }

    async fn recover_one(
        self: &Arc<Self>,
        marker: &ActiveRun,
        report: &mut RecoveryReport,
    ) -> Result<(), RunError> {
        let (tenant, task_id) = (marker.task_tenant_id, marker.task_id);
        let now = time::now();
        let lease_ttl = chrono::Duration::from_std(self.limiter.settings().lease_ttl)
            .unwrap_or(chrono::Duration::MAX);
        let stale = |since: DateTime<Utc>| now - since > lease_ttl;
        let Some(task) = self
            .repo
            .get::<SyncTask>(tenant, &task_id.to_string())
            .await?
        else {
            // The trigger died between the marker and the task.
            if stale(marker.created_at) {
                self.settle(tenant, task_id).await;
                report.settled += 1;
            }
            return Ok(());
        };
        let task = task.doc;
        if task.status.is_terminal() || task.status == TaskStatus::Processing {
            report.outbox_events += self.drain_outbox(tenant, task_id).await?;
            self.settle(tenant, task_id).await;
            report.settled += 1;
            return Ok(());
        }
        let orphaned = match (&task.status, &task.run_lease) {
            (TaskStatus::Pending, _) => stale(task.created_at),
            (_, Some(lease)) => !self.limiter.holds(tenant, lease, now).await?,
            (_, None) => stale(task.updated_at),
        };
        if orphaned && self.resume(task).await? {
            report.resumed += 1;
        }
        Ok(())
    }

    /// Takes up an orphaned task in this process. `false` when it cannot run
    /// now (no free slot, directory unreachable): the next sweep tries again.
    async fn resume(self: &Arc<Self>, task: SyncTask) -> Result<bool, RunError> {
        let tenant = task.tenant_id;
        let (integration, entities) = match self.runnable(&task).await {
            Ok(Some(runnable)) => runnable,
            Ok(None) => return Ok(false),
            Err(e) => {
                tracing::warn!(error = %e, "cannot resume a task while the directory is unavailable");
                return Ok(false);
            }
        };
        let lease = match self
            .limiter
            .claim_slot(tenant, Uuid::new_v4(), time::now())
            .await
        {
            Ok(lease) => lease,
            Err(LimitError::Rejected(_)) => return Ok(false),
            Err(LimitError::Store(e)) => return Err(e.into()),
        };
        tracing::warn!(
            attempts = task.attempts,
            "resuming a task whose run died, from its cursor"
        );
        let claim = Claim::taking_up(&task);
        self.run_in_background(task, integration, entities, lease, claim);
        Ok(true)
    }
}

impl SyncEngine {
    /// The integration and entity types a task taken up again walks. A task
    /// that can no longer run (integration gone, inactive, unusable) is ended
    /// as failed with the reason, and `None` returned. An unreachable
    /// directory is the error: try again later.
    pub(super) async fn runnable(
        &self,
        task: &SyncTask,
    ) -> Result<Option<(Integration, Vec<String>)>, DirectoryError> {
        let request = TriggerRequest {
            integration_id: task.integration_id.clone(),
            direction: task.direction,
            entity_type: task.entity_type.clone(),
            filters: task.filters.clone(),
            triggered_by: task.triggered_by.clone(),
        };
        let runnable = match self
            .directory
            .get_integration(task.tenant_id, &task.integration_id)
            .await
        {
            Ok(integration) => self
                .check_runnable(&integration, &request)
                .map(|entities| (integration, entities))
                .map_err(|e| e.to_string()),
            Err(DirectoryError::NotFound(id)) => Err(format!("integration {id} not found")),
            Err(e @ DirectoryError::Invalid { .. }) => Err(e.to_string()),
            Err(e) => return Err(e),
        };
        match runnable {
            Ok(runnable) => Ok(Some(runnable)),
            Err(why) => {
                self.abandon(task.clone(), why).await;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests;
