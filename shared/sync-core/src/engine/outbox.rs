//! The transactional outbox of a task. A change of the task and the events it
//! implies (`sync.started`, `sync.completed`, ...) are written in one
//! conditional write of the task document, which every store makes atomic (a
//! Cosmos DB item write, a SQLite row). Only then are the events published,
//! with confirms, and removed from the outbox. A crash in between leaves them
//! in the document, and recovery publishes them with the same ids: at least
//! once, never lost, never a different event.
//!
//! An outbound write has the same discipline on its record's state: the
//! events it implies are written with the state that records it, then
//! published and removed ([`SyncEngine::publish_record_outbox`]); the
//! `shard.updated` that caused it is acknowledged only after, so a crash
//! leads to its redelivery, which publishes what the state still holds.

use std::{
    collections::HashSet,
    sync::atomic::{AtomicBool, Ordering},
};

use uuid::Uuid;

use super::{RunError, SyncEngine, outage::through_store_outage};
use crate::{
    domain::{
        SyncTask, TenantId, events::OutboundEvent, sync_state::RecordState, task::PendingEvent,
    },
    ports::{PublishError, store::StoreError},
};

impl SyncEngine {
    /// Applies `change` to the task and appends `events` to its outbox in the
    /// same conditional write, waiting out a store outage. `change` returns
    /// `false` to write nothing (and record no events); the answer is then
    /// `None`.
    pub(super) async fn record_task<F>(
        &self,
        tenant: TenantId,
        task_id: Uuid,
        events: &[OutboundEvent],
        change: F,
    ) -> Result<Option<SyncTask>, StoreError>
    where
        F: Fn(&mut SyncTask) -> bool + Sync,
    {
        let pending: Vec<PendingEvent> = events.iter().map(OutboundEvent::to_pending).collect();
        let id = task_id.to_string();
        let applied = AtomicBool::new(false);
        let written = through_store_outage(self.settings.outage_tolerance, "record a task", || {
            self.repo.update::<SyncTask, _>(tenant, &id, |task| {
                let apply = change(task);
                applied.store(apply, Ordering::SeqCst);
                if apply {
                    task.outbox.extend(pending.iter().cloned());
                }
                apply
            })
        })
        .await?;
        Ok(applied.load(Ordering::SeqCst).then_some(written.doc))
    }

    /// Publishes what a record state's outbox holds (read fresh), then removes
    /// exactly those entries. Returns how many.
    pub(super) async fn publish_record_outbox(
        &self,
        tenant: TenantId,
        state_id: &str,
    ) -> Result<usize, PublishOrStore> {
        let Some(state) = self.repo.get::<RecordState>(tenant, state_id).await? else {
            return Ok(0);
        };
        if state.doc.outbox.is_empty() {
            return Ok(0);
        }
        let events = from_outbox(&state.doc.outbox);
        self.bus.publish(&events).await?;
        let sent: HashSet<Uuid> = state.doc.outbox.iter().map(|p| p.id).collect();
        self.repo
            .update::<RecordState, _>(tenant, state_id, |s| {
                let before = s.outbox.len();
                s.outbox.retain(|p| !sent.contains(&p.id));
                s.outbox.len() != before
            })
            .await?;
        metrics::counter!("outbox_events_published_total").increment(events.len() as u64);
        Ok(events.len())
    }

    /// Publishes what the task's outbox holds now (recovery: read it first).
    pub(super) async fn drain_outbox(
        &self,
        tenant: TenantId,
        task_id: Uuid,
    ) -> Result<usize, RunError> {
        let id = task_id.to_string();
        let tolerance = self.settings.outage_tolerance;
        let task = through_store_outage(tolerance, "read a task's outbox", || {
            self.repo.get::<SyncTask>(tenant, &id)
        })
        .await?;
        match task {
            Some(task) => self.publish_outbox(&task.doc).await,
            None => Ok(0),
        }
    }

    /// Publishes the outbox of `task` as just written or read (confirmed by
    /// the broker), then removes exactly those entries. Returns how many.
    pub(super) async fn publish_outbox(&self, task: &SyncTask) -> Result<usize, RunError> {
        let outbox = &task.outbox;
        if outbox.is_empty() {
            return Ok(0);
        }
        let (tenant, id) = (task.tenant_id, task.task_id.to_string());
        let tolerance = self.settings.outage_tolerance;
        let events = from_outbox(outbox);
        self.bus.publish(&events).await?;
        let sent: HashSet<Uuid> = outbox.iter().map(|p| p.id).collect();
        through_store_outage(tolerance, "clear a task's outbox", || {
            self.repo.update::<SyncTask, _>(tenant, &id, |task| {
                let before = task.outbox.len();
                task.outbox.retain(|p| !sent.contains(&p.id));
                task.outbox.len() != before
            })
        })
        .await?;
        metrics::counter!("outbox_events_published_total").increment(events.len() as u64);
        Ok(events.len())
    }
}

/// Outbox entries back as the events they were.
fn from_outbox(outbox: &[PendingEvent]) -> Vec<OutboundEvent> {
    outbox
        .iter()
        .filter_map(|pending| {
            let event = OutboundEvent::from_pending(pending);
            if event.is_none() {
                tracing::error!(event_type = %pending.event_type, "an outbox entry of a type this service does not publish is dropped");
            }
            event
        })
        .collect()
}

/// Why a record's outbox could not be published: the broker or the store.
#[derive(Debug, thiserror::Error)]
pub enum PublishOrStore {
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
