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
    repository::Document,
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
        match self.repo.get::<RecordState>(tenant, state_id).await? {
            Some(state) => self.send_outbox(&state.doc).await,
            None => Ok(0),
        }
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
        self.send_outbox(task).await.map_err(|e| match e {
            PublishOrStore::Publish(e) => RunError::Publish(e),
            PublishOrStore::Store(e) => RunError::Store(e),
        })
    }

    /// The one outbox discipline, for whichever document holds one: publish
    /// its entries (confirmed), then remove exactly those by a conditional
    /// write, waiting out a store outage.
    async fn send_outbox<D: Outboxed>(&self, doc: &D) -> Result<usize, PublishOrStore> {
        let outbox = doc.outbox();
        if outbox.is_empty() {
            return Ok(0);
        }
        let events = from_outbox(outbox);
        self.bus.publish(&events).await?;
        let sent: HashSet<Uuid> = outbox.iter().map(|p| p.id).collect();
        let (tenant, id) = (doc.partition(), doc.document_id());
        through_store_outage(self.settings.outage_tolerance, "clear an outbox", || {
            self.repo.update::<D, _>(tenant, &id, |doc| {
                let outbox = doc.outbox_mut();
                let before = outbox.len();
                outbox.retain(|p| !sent.contains(&p.id));
                outbox.len() != before
            })
        })
        .await?;
        metrics::counter!("outbox_events_published_total").increment(events.len() as u64);
        Ok(events.len())
    }
}

/// A document that carries an outbox of events its last change implies.
trait Outboxed: Document {
    fn outbox(&self) -> &[PendingEvent];
    fn outbox_mut(&mut self) -> &mut Vec<PendingEvent>;
}

impl Outboxed for SyncTask {
    fn outbox(&self) -> &[PendingEvent] {
        &self.outbox
    }
    fn outbox_mut(&mut self) -> &mut Vec<PendingEvent> {
        &mut self.outbox
    }
}

impl Outboxed for RecordState {
    fn outbox(&self) -> &[PendingEvent] {
        &self.outbox
    }
    fn outbox_mut(&mut self) -> &mut Vec<PendingEvent> {
        &mut self.outbox
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
