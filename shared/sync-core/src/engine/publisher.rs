//! Turns the changed records of a run into events, per record or in batches.
//!
//! By default every record goes out as one `integration.data.raw`, at once:
//! that is what the platform's integration-processors consumes today. With
//! batch events on (`mapping.batch_events`), the seed's rule applies: a sync
//! of at most `batch_threshold` records publishes one event per record, a
//! larger one batch events of `batch_size` records (under
//! `mapping.batch_event_type`). The total is not known up front, so then the
//! first `batch_threshold` records are held back until either the run ends
//! (per-record) or one more arrives (batches from then on). Memory stays
//! bounded by the threshold plus one page. Records go out in the order they
//! came in, so whatever the publisher still holds is always the newest part
//! of the walk.

use crate::domain::{
    ExternalRecord, SyncExecution, SyncTask,
    events::{
        BatchRecord, DataDeleted, DataRaw, DataRawBatch, EventFactory, EventMetadata, EventType,
        OutboundEvent, RecordMetadata, idempotency_key, stable_event_id,
    },
    record::ChangedRecord,
};

/// Events ready to publish, and the records they carry.
#[derive(Default)]
pub struct Outgoing {
    pub events: Vec<OutboundEvent>,
    pub records: Vec<ChangedRecord>,
}

pub struct PublishContext<'a> {
    pub task: &'a SyncTask,
    pub execution: &'a SyncExecution,
    pub provider: &'a str,
    pub events: &'a EventFactory,
    pub metadata: EventMetadata,
    /// Batch events on; otherwise every record goes out on its own, at once.
    pub batches: bool,
    pub batch_threshold: usize,
    pub batch_size: usize,
}

enum Mode {
    /// Not yet past the threshold: records wait here.
    Holding(Vec<ChangedRecord>),
    /// Past the threshold: records of one entity type wait for a full batch.
    Batching(Vec<ChangedRecord>),
}

pub struct RecordPublisher<'a> {
    ctx: PublishContext<'a>,
    mode: Mode,
}

impl<'a> RecordPublisher<'a> {
    pub fn new(ctx: PublishContext<'a>) -> Self {
        RecordPublisher {
            ctx,
            mode: Mode::Holding(Vec::new()),
        }
    }

    /// Nothing is held back: every record given so far has gone out.
    pub fn is_idle(&self) -> bool {
        match &self.mode {
            Mode::Holding(held) | Mode::Batching(held) => held.is_empty(),
        }
    }

    /// Takes a page's changed records; returns what can go out now.
    pub fn add_page(&mut self, records: Vec<ChangedRecord>) -> Outgoing {
        let mut out = Outgoing::default();
        if !self.ctx.batches {
            for record in records {
                self.per_record_events(record, &mut out);
            }
            return out;
        }
        for record in records {
            match &mut self.mode {
                Mode::Holding(held) if held.len() < self.ctx.batch_threshold => held.push(record),
                Mode::Holding(held) => {
                    let held = std::mem::take(held);
                    self.mode = Mode::Batching(Vec::new());
                    for earlier in held {
                        self.push_batched(earlier, &mut out);
                    }
                    self.push_batched(record, &mut out);
                }
                Mode::Batching(_) => self.push_batched(record, &mut out),
            }
        }
        out
    }

    /// Ends the run: whatever is still held goes out.
    pub fn finish(&mut self) -> Outgoing {
        let mut out = Outgoing::default();
        match std::mem::replace(&mut self.mode, Mode::Batching(Vec::new())) {
            Mode::Holding(held) => {
                for record in held {
                    self.per_record_events(record, &mut out);
                }
            }
            Mode::Batching(pending) => self.emit_batch(pending, &mut out),
        }
        out
    }

    /// `integration.data.deleted` for a record the provider deleted.
    pub fn deletion_event(&self, record: &ExternalRecord) -> OutboundEvent {
        let task = self.ctx.task;
        let key = idempotency_key(&task.integration_id, &record.external_id, task.task_id);
        let id = record_event_id(EventType::DataDeleted, &key, record);
        let data = DataDeleted {
            integration_id: &task.integration_id,
            tenant_id: task.tenant_id,
            entity_type: &record.entity_type,
            external_id: &record.external_id,
            deleted_at: crate::domain::time::format(&record.modified_at),
            sync_task_id: task.task_id,
            idempotency_key: key,
            correlation_id: self.correlation_id(),
            metadata: self.record_metadata(record, None),
        };
        self.ctx.events.build_with_id(
            id,
            EventType::DataDeleted,
            task.tenant_id,
            data,
            &self.ctx.metadata,
        )
    }

    fn push_batched(&mut self, record: ChangedRecord, out: &mut Outgoing) {
        let Mode::Batching(pending) = &mut self.mode else {
            unreachable!("push_batched is only called in batching mode");
        };
        let other_entity = pending
            .first()
            .is_some_and(|first| first.record.entity_type != record.record.entity_type);
        let full = if other_entity {
            std::mem::take(pending)
        } else {
            Vec::new()
        };
        pending.push(record);
        let ready = if pending.len() >= self.ctx.batch_size {
            std::mem::take(pending)
        } else {
            Vec::new()
        };
        self.emit_batch(full, out);
        self.emit_batch(ready, out);
    }

    fn record_metadata(
        &self,
        record: &ExternalRecord,
        change: Option<&'static str>,
    ) -> RecordMetadata<'a> {
        RecordMetadata {
            execution_id: self.ctx.execution.execution_id,
            provider: self.ctx.provider,
            direction: self.ctx.task.direction.as_str(),
            modified_at: Some(crate::domain::time::format(&record.modified_at)),
            change,
        }
    }

    fn per_record_events(&self, changed: ChangedRecord, out: &mut Outgoing) {
        let task = self.ctx.task;
        let record = &changed.record;
        let key = idempotency_key(&task.integration_id, &record.external_id, task.task_id);
        let id = record_event_id(EventType::DataRaw, &key, record);
        let data = DataRaw {
            integration_id: &task.integration_id,
            tenant_id: task.tenant_id,
            entity_type: &record.entity_type,
            raw_data: &record.raw,
            external_id: &record.external_id,
            sync_task_id: task.task_id,
            idempotency_key: key,
            correlation_id: self.correlation_id(),
            metadata: self.record_metadata(record, Some(changed.kind.as_str())),
            changes: changed.changes.as_deref(),
        };
        out.events.push(self.ctx.events.build_with_id(
            id,
            EventType::DataRaw,
            task.tenant_id,
            data,
            &self.ctx.metadata,
        ));
        out.records.push(changed);
    }

    fn emit_batch(&self, records: Vec<ChangedRecord>, out: &mut Outgoing) {
        let Some(first) = records.first() else {
            return;
        };
        let task = self.ctx.task;
        // The batch's id follows from the record versions it carries.
        let mut versions = Vec::with_capacity(records.len() * 48);
        // The body's size: each record's bytes, key, id and field names,
        // and the envelope's ~1 KiB.
        let mut capacity = 1024;
        let batch: Vec<BatchRecord> = records
            .iter()
            .map(|c| {
                let key =
                    idempotency_key(&task.integration_id, &c.record.external_id, task.task_id);
                capacity += c.record.raw.get().len() + key.len() + c.record.external_id.len() + 64;
                versions.extend_from_slice(key.as_bytes());
                versions.extend_from_slice(&c.record.modified_at.timestamp_micros().to_le_bytes());
                BatchRecord {
                    raw_data: &c.record.raw,
                    external_id: &c.record.external_id,
                    idempotency_key: key,
                    change: c.kind.as_str(),
                    changes: c.changes.as_deref(),
                }
            })
            .collect();
        let id = stable_event_id(EventType::DataRawBatch.name(), &[&versions]);
        let data = DataRawBatch {
            integration_id: &task.integration_id,
            tenant_id: task.tenant_id,
            entity_type: &first.record.entity_type,
            records: batch,
            batch_size: records.len(),
            sync_task_id: task.task_id,
            correlation_id: self.correlation_id(),
            metadata: RecordMetadata {
                modified_at: None,
                ..self.record_metadata(&first.record, None)
            },
        };
        out.events.push(self.ctx.events.build_sized(
            id,
            EventType::DataRawBatch,
            task.tenant_id,
            data,
            &self.ctx.metadata,
            capacity,
        ));
        out.records.extend(records);
    }

    fn correlation_id(&self) -> String {
        self.ctx.execution.correlation_id.to_string()
    }
}

/// One record version's event id: the same version published again by the
/// same task (a resumed run) is the same event.
fn record_event_id(event_type: EventType, key: &str, record: &ExternalRecord) -> uuid::Uuid {
    stable_event_id(
        event_type.name(),
        &[
            key.as_bytes(),
            &record.modified_at.timestamp_micros().to_le_bytes(),
        ],
    )
}

#[cfg(test)]
mod tests;
