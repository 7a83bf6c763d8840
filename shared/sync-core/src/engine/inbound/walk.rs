//! The incremental walk of an inbound run.
//!
//! For each entity type: read from the entity's cursor (minus an overlap
//! window, because providers may commit a change later than its timestamp),
//! compare each record with its stored state, publish only what changed or was
//! deleted, and only after the broker confirmed: write the new states, count,
//! and move the cursor. The cursor moves only while the publisher holds nothing
//! back, so a crash can make a run redo work, never skip it. A run stops at
//! `max_records_per_sync`, saying more remain; the next run goes on from the
//! cursor.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::Arc,
};

use tokio::sync::oneshot;

use super::{
    RunSignals,
    changes::{Change, StateKey, classify},
    held::HeldStates,
};
use crate::{
    domain::{
        ExternalRecord, Integration, RecordCounters, SyncExecution, SyncTask,
        events::{EventMetadata, OutboundEvent},
        field_mapping,
        merge::FieldChange,
        record::{ChangeKind, ChangedRecord},
        sync_state::{
            CursorPosition, EntityCursor, RecordHead, RecordState, StateIds, canonical, hash_value,
            keeps_snapshots, raw_hash_hex, raw_json,
        },
        time,
    },
    engine::{
        RunError, SyncEngine,
        publisher::{Outgoing, PublishContext, RecordPublisher},
    },
    engine::{outbound::newer_side, reconcile::Reconcile},
    ports::{EventBus, PageRequest, Provider, ProviderError, PublishError, RecordPage, StoreError},
    repository::Repository,
};

/// What a completed run reached.
#[derive(Debug, Clone, Default)]
pub struct InboundOutcome {
    pub counters: RecordCounters,
    pub cursors: BTreeMap<String, String>,
    pub more_remaining: bool,
    /// Stopped before its deadline, to be handed on.
    pub handed_on: Option<HandOn>,
}

/// Where a run that stopped before its deadline left its task.
#[derive(Debug, Clone, Default)]
pub struct HandOn {
    pub counters: RecordCounters,
    pub cursors: BTreeMap<String, String>,
    /// Entity types finished, in the task's order.
    pub entities_done: usize,
    /// Records read by the task's runs so far.
    pub records_read: u64,
}

/// How a walk ended.
struct WalkEnd {
    more_remaining: bool,
    /// The entity type it stopped in, before its deadline.
    stopped_in: Option<usize>,
}

struct Walk<'a> {
    engine: &'a SyncEngine,
    task: &'a SyncTask,
    execution: &'a SyncExecution,
    integration: &'a Integration,
    provider: Arc<dyn Provider>,
    volatile: &'static [&'static str],
    publisher: RecordPublisher<'a>,
    counters: RecordCounters,
    /// `records_expected` and `pages_read` of the task (see there).
    expected: Option<u64>,
    pages: u64,
    /// Why the provider makes the run wait, as last put in the task's message.
    waiting: Option<String>,
    /// States of changed records the publisher still holds, written once they are out.
    pending: HeldStates,
    cursors: BTreeMap<String, EntityCursor>,
    /// The furthest position read per entity type.
    reached: BTreeMap<String, CursorPosition>,
    deleted_in_run: HashMap<String, u64>,
    /// Records read in this run, whatever became of them ...
    budget_used: u64,
    /// ... but re-reads of the overlap window, counted here up to ten budgets.
    rereads: u64,
    /// The provider reads "modified since" (else it resumes from a page).
    windowed: bool,
    /// A fingerprint of every non-empty page read in this run.
    pages_seen: HashSet<u128>,
    /// Pages whose events are being published, then their states, cursors
    /// and progress written, while the next page is read and classified:
    /// at most [`IN_FLIGHT`] and [`STATES_IN_FLIGHT`], oldest first.
    writing: VecDeque<PageWrite>,
    /// Signals that the newest page in flight handed its events to the
    /// broker, had them confirmed (`true`: published a second time), and was
    /// written; the next page sends, settles and writes only after each.
    last_sent: Option<oneshot::Receiver<()>>,
    last_published: Option<oneshot::Receiver<bool>>,
    last_written: Option<oneshot::Receiver<()>>,
    /// When cursors and progress were last recorded.
    progress_at: Option<tokio::time::Instant>,
    /// The longest a page took (read, classify, publish): a run with a
    /// deadline keeps twice this in hand for the page it would start.
    slowest_page: std::time::Duration,
}

/// States of a page whose write is under way, by document id, so the next
/// page classifies against them rather than a store that may not have them yet.
/// Every record read looks its id up in each page in flight: foldhash, not SipHash.
struct PageWrite {
    states: Arc<Vec<RecordState>>,
    by_id: foldhash::HashMap<String, usize>,
    job: tokio::task::JoinHandle<Result<(), RunError>>,
}

impl SyncEngine {
    pub(super) async fn run_inbound(
        &self,
        task: &SyncTask,
        execution: &SyncExecution,
        integration: &Integration,
        entities: &[String],
        metadata: &EventMetadata,
        signals: &RunSignals,
    ) -> Result<InboundOutcome, RunError> {
        let provider = self.providers.get(&integration.provider).ok_or_else(|| {
            RunError::Provider(ProviderError::Unsupported(integration.provider.clone()))
        })?;
        let mut walk = Walk {
            engine: self,
            task,
            execution,
            integration,
            provider: provider.clone(),
            volatile: provider.volatile_fields(),
            publisher: RecordPublisher::new(PublishContext {
                task,
                execution,
                provider: &integration.provider,
                events: &self.events,
                metadata: *metadata,
                batches: self.settings.batch_events,
                batch_threshold: self.settings.batch_threshold,
                batch_size: self.settings.batch_size,
            }),
            // A resumed run goes on counting where the dead one stopped.
            counters: task.counters,
            expected: task.records_expected,
            pages: task.pages_read,
            waiting: None,
            pending: HeldStates::default(),
            cursors: BTreeMap::new(),
            reached: BTreeMap::new(),
            deleted_in_run: HashMap::new(),
            // The read budget is the task's, across the runs it was handed through.
            budget_used: task.hand_off.as_ref().map_or(0, |h| h.records_read),
            rereads: 0,
            windowed: provider.has_change_window(),
            pages_seen: HashSet::new(),
            writing: VecDeque::new(),
            last_sent: None,
            last_published: None,
            last_written: None,
            progress_at: None,
            slowest_page: std::time::Duration::ZERO,
        };
        let done = task.hand_off.as_ref().map_or(0, |h| h.entities_done);
        let walked = walk.walk(entities, done, signals).await;
        // Whatever happened, the last page's write ends before the run does.
        let settled = walk.settle().await;
        let end = walked?;
        settled?;
        let cursors: BTreeMap<String, String> = walk
            .reached
            .iter()
            .map(|(e, p)| (e.clone(), p.to_string()))
            .collect();
        let handed_on = end.stopped_in.map(|entities_done| HandOn {
            counters: walk.counters,
            cursors: cursors.clone(),
            entities_done,
            records_read: walk.budget_used,
        });
        Ok(InboundOutcome {
            counters: walk.counters,
            cursors,
            more_remaining: end.more_remaining,
            handed_on,
        })
    }
}

impl Walk<'_> {
    /// Reads every entity type after the first `done` from its cursor, until
    /// the read budget is spent or the deadline is near.
    async fn walk(
        &mut self,
        entities: &[String],
        done: usize,
        signals: &RunSignals,
    ) -> Result<WalkEnd, RunError> {
        let (engine, task, integration) = (self.engine, self.task, self.integration);
        let provider = self.provider.clone();
        let mut more_remaining = false;
        let mut stopped_in = None;
        let mut pages_read = 0u64;
        let page_size = provider.page_size(engine.settings.page_size);
        'entities: for (position, entity) in entities.iter().enumerate().skip(done) {
            let cursor = self.load_cursor(entity).await?;
            let overlap =
                chrono::Duration::from_std(engine.settings.cursor_overlap).unwrap_or_default();
            let since = cursor.position.as_ref().map(|p| p.modified_at - overlap);
            let mut page_token = cursor.resume_page.clone().filter(|_| !self.windowed);
            // The next page, asked for while this one is classified.
            let mut ahead: Option<ReadAhead> = None;
            loop {
                // At least one page a run, so a margin longer than an
                // invocation cannot keep a task from moving.
                if pages_read > 0 && self.deadline_near() {
                    self.resume_from(entity, page_token.clone());
                    stopped_in = Some(position);
                    break 'entities;
                }
                let page_started = tokio::time::Instant::now();
                let request = |cursor| PageRequest {
                    entity_type: entity.clone(),
                    cursor,
                    page_size,
                    filters: task.filters.clone(),
                    modified_since: since,
                };
                let first_of_query = page_token.is_none();
                let fetching = match ahead.take() {
                    Some(ahead) => ahead,
                    None => ReadAhead::start(&provider, integration, request(page_token.clone())),
                };
                let page = fetching.page();
                tokio::pin!(page);
                // First look a period from now, not at once: an interval's
                // immediate first tick is a timer all the same, which fires
                // on the runtime's next timer turn (up to a millisecond
                // later), and every page, already read or not, waited for it.
                let mut look = tokio::time::interval_at(
                    tokio::time::Instant::now() + WAIT_NOTE_EVERY,
                    WAIT_NOTE_EVERY,
                );
                let page = loop {
                    tokio::select! {
                        biased;
                        _ = signals.shutdown.cancelled() => return Err(RunError::Interrupted),
                        _ = signals.lease_lost.cancelled() => return Err(RunError::LeaseLost),
                        page = &mut page => break page?,
                        _ = look.tick() => self.note_waiting().await?,
                    }
                };
                if self.waiting.is_some() {
                    self.note_waiting().await?;
                }
                let RecordPage {
                    records,
                    next_cursor,
                    total,
                } = page;
                if let Some(total) = total.filter(|_| first_of_query) {
                    self.expected = Some(self.counters.records_processed + total);
                }
                self.check_not_seen(entity, &records)?;
                // Read on while this page is classified and published, unless
                // it spends the read budget (a page read ahead and not used is
                // dropped, its request cancelled).
                let budget_left = engine
                    .settings
                    .max_records_per_sync
                    .saturating_sub(self.budget_used);
                if let Some(next) = &next_cursor
                    && (records.len() as u64) < budget_left
                {
                    ahead = Some(ReadAhead::start(
                        &provider,
                        integration,
                        request(Some(next.clone())),
                    ));
                }
                page_token = next_cursor.clone();
                self.pages += 1;
                self.absorb(entity, records).await?;
                pages_read += 1;
                self.slowest_page = self.slowest_page.max(page_started.elapsed());
                if next_cursor.is_none() {
                    self.resume_from(entity, None);
                }
                if self.budget_used >= engine.settings.max_records_per_sync {
                    more_remaining = next_cursor.is_some() || position + 1 < entities.len();
                    self.resume_from(entity, next_cursor.clone());
                    if more_remaining {
                        tracing::info!(
                            budget = engine.settings.max_records_per_sync,
                            "record budget reached; the next run continues"
                        );
                    }
                    break 'entities;
                }
                if next_cursor.is_none() {
                    break;
                }
            }
        }
        let rest = self.publisher.finish();
        self.commit(rest, Vec::new(), true).await?;
        Ok(WalkEnd {
            more_remaining,
            stopped_in,
        })
    }

    /// Puts why the provider makes the run wait (or that it no longer does)
    /// into the task's message, when that changed.
    async fn note_waiting(&mut self) -> Result<(), RunError> {
        let now = self.provider.waiting(self.integration);
        if now == self.waiting {
            return Ok(());
        }
        let task = self.task;
        let message = now.clone();
        self.engine
            .repo
            .update::<SyncTask, _>(task.tenant_id, &task.task_id.to_string(), |t| {
                if t.run_lease != task.run_lease {
                    return false;
                }
                t.message = message.clone();
                t.updated_at = time::now();
                true
            })
            .await?;
        self.waiting = now;
        Ok(())
    }

    /// Whether the run must stop before its next page: less time is left than
    /// the margin plus twice the slowest page so far, and a slowest page more
    /// for each page still being published and written.
    fn deadline_near(&self) -> bool {
        let engine = self.engine;
        let pages = 2 + self.writing.len() as u32;
        engine
            .runner
            .time_left()
            .is_some_and(|left| left < engine.settings.deadline_margin + self.slowest_page * pages)
    }

    async fn load_cursor(&mut self, entity: &str) -> Result<EntityCursor, RunError> {
        let task = self.task;
        let id = EntityCursor::document_id(&task.integration_id, entity);
        let cursor = self
            .engine
            .repo
            .get::<EntityCursor>(task.tenant_id, &id)
            .await?
            .map(|v| v.doc)
            .unwrap_or_else(|| EntityCursor::new(task.tenant_id, &task.integration_id, entity));
        self.cursors.insert(entity.to_owned(), cursor.clone());
        Ok(cursor)
    }

    /// Classifies a page against stored state and publishes what changed.
    async fn absorb(&mut self, entity: &str, records: Vec<ExternalRecord>) -> Result<(), RunError> {
        let task = self.task;
        let state_ids = StateIds::new(&task.integration_id, entity);
        let ids: Vec<String> = records
            .iter()
            .map(|r| state_ids.id(&r.external_id))
            .collect();
        let (stored, quiet) = self.stored_states(task, &records, &ids).await?;
        let checkpoint = self.cursors.get(entity).and_then(|c| c.position.clone());
        let correlation_id = self.execution.correlation_id.to_string();
        let key = StateKey {
            tenant: task.tenant_id,
            integration_id: &task.integration_id,
            task_id: task.task_id,
            correlation_id: &correlation_id,
            keep_snapshots: keeps_snapshots(self.integration),
        };
        let mut changed = Vec::new();
        let mut deleted = Vec::new();
        for ((record, state_id), quiet) in records.into_iter().zip(ids).zip(quiet) {
            // Compared as borrowed keys: a position is built (its id
            // copied) only where it moves the point reached.
            let position = (record.modified_at, record.external_id.as_str());
            // Re-reads of the overlap window count apart, up to the budget.
            let reread = checkpoint.as_ref().is_some_and(|c| position <= c.key());
            let allowance = self.engine.settings.max_records_per_sync.saturating_mul(10);
            if reread && self.windowed && self.rereads < allowance {
                self.rereads += 1;
            } else {
                self.budget_used += 1;
            }
            let owned = || CursorPosition {
                modified_at: record.modified_at,
                external_id: record.external_id.clone(),
            };
            match self.reached.get_mut(entity) {
                Some(reached) if position > reached.key() => *reached = owned(),
                Some(_) => {}
                None => {
                    self.reached.insert(entity.to_owned(), owned());
                }
            }
            // A record changed earlier in this run and still held counts as known.
            let held = self.pending.get(entity, &record.external_id);
            // Then one whose write is under way, then the store.
            let writing = self
                .writing
                .iter()
                .rev()
                .find_map(|w| w.by_id.get(&state_id).map(|&i| &w.states[i]));
            let known = held.or(writing).or_else(|| stored.get(&record.external_id));
            let change = if known.is_none() && quiet {
                Change::Unchanged
            } else {
                classify(state_id, &record, known, self.volatile, &key)
            };
            if !reread || matches!(change, Change::Changed(..) | Change::Deleted(_)) {
                self.counters.records_processed += 1;
            }
            match change {
                Change::Changed(kind, state) => {
                    // Only a state with a snapshot is a base: the others are not cloned.
                    let base = known
                        .filter(|k| !k.deleted && k.snapshot.is_some())
                        .cloned();
                    let Some((record, state, changes)) =
                        self.reconcile(entity, record, state, base).await?
                    else {
                        continue; // a conflict for a person: nothing overwritten
                    };
                    self.pending
                        .insert(entity, &record.external_id, kind, state);
                    changed.push(ChangedRecord {
                        record,
                        kind,
                        changes,
                    });
                }
                Change::Unchanged => self.counters.records_unchanged += 1,
                Change::Deleted(tombstone) => {
                    // A deletion supersedes a change still held back.
                    self.pending.remove(entity, &record.external_id);
                    deleted.push((record, tombstone));
                }
                Change::AlreadyGone => {}
            }
        }
        self.check_mass_delete(entity, deleted.len() as u64)?;
        let mut outgoing = self.publisher.add_page(changed);
        outgoing.events.extend(
            deleted
                .iter()
                .map(|(record, _)| self.publisher.deletion_event(record)),
        );
        self.commit(outgoing, deleted, false).await
    }

    /// The stored states a page is classified against, read in two steps:
    /// the heads of all (hashes, no snapshot), then whole states only for
    /// records whose bytes differ from last time. The flags, one per record,
    /// mark those read with the same bytes as last time: unchanged.
    async fn stored_states(
        &self,
        task: &SyncTask,
        records: &[ExternalRecord],
        ids: &[String],
    ) -> Result<(foldhash::HashMap<String, RecordState>, Vec<bool>), RunError> {
        let repo = &self.engine.repo;
        let heads: foldhash::HashMap<String, RecordHead> = repo
            .get_fields::<RecordState, RecordHead>(task.tenant_id, ids, RecordHead::FIELDS)
            .await?
            .into_iter()
            // Keyed by its external id, moved out rather than copied.
            .map(|mut h| (std::mem::take(&mut h.external_id), h))
            .collect();
        let mut quiet = vec![false; records.len()];
        let mut differ = Vec::new();
        for ((record, id), quiet) in records.iter().zip(ids).zip(&mut quiet) {
            let Some(head) = heads.get(&record.external_id) else {
                continue; // never seen: nothing to read
            };
            if !record.deleted && head.same_bytes(raw_hash_hex(&record.raw).as_str()) {
                *quiet = true;
            } else {
                differ.push(id.clone());
            }
        }
        let stored = if differ.is_empty() {
            foldhash::HashMap::default()
        } else {
            repo.get_many::<RecordState>(task.tenant_id, &differ)
                .await?
                .into_iter()
                .map(|s| (s.external_id.clone(), s))
                .collect()
        };
        Ok((stored, quiet))
    }

    /// For an update: its change set, and for a bidirectional integration whose
    /// record has a shard, the same three-way detection as outbound sync: a
    /// conflict the strategy cannot settle is stored and the record is held
    /// back (`None`); settled platform values are pushed to the provider and the
    /// merged record is what the platform receives.
    async fn reconcile(
        &mut self,
        entity: &str,
        record: ExternalRecord,
        state: RecordState,
        base: Option<RecordState>,
    ) -> Result<Option<(ExternalRecord, RecordState, Option<Vec<FieldChange>>)>, RunError> {
        // No base, no change set: a first sight, or a state kept without its
        // snapshot (an integration that does not sync outbound).
        let based = base.and_then(|b| b.snapshot_value(self.volatile).map(|v| (b, v)));
        let Some((base, base_record)) = based else {
            return Ok(Some((record, state, None)));
        };
        let provider = self.provider.clone();
        let reconcile = Reconcile {
            engine: self.engine,
            integration: self.integration,
            provider: provider.as_ref(),
            entity,
            external_id: &record.external_id,
            metadata: EventMetadata {
                correlation_id: Some(self.execution.correlation_id),
                ..Default::default()
            },
        };
        let base_fields = provider.fields_of(&base_record);
        let current = canonical(&record.raw, self.volatile);
        let source = provider.fields_of(&current);
        let changes = Some(reconcile.changes(&base_fields, &source));
        let mapping = self.integration.mapping_for_entity(entity);
        let shards = match (&self.engine.shards, &base.shard_id, mapping) {
            (Some(shards), Some(shard_id), Some(_))
                if self.integration.syncs_outbound() && provider.can_push() =>
            {
                shards.get_shard(self.task.tenant_id, shard_id).await
            }
            _ => return Ok(Some((record, state, changes))),
        };
        let shard = match shards {
            Ok(shard) => shard,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the shard; syncing the record one way");
                return Ok(Some((record, state, changes)));
            }
        };
        let field_mappings = mapping.map_or(&[][..], |m| &m.field_mappings[..]);
        let target =
            field_mapping::to_provider(field_mappings, &shard.structured_data, &base_fields).fields;
        let newer = newer_side(record.modified_at, shard.updated_at);
        let merge = reconcile.merge(&base_fields, &target, &source, newer);
        if merge.needs_person() {
            reconcile
                .conflict(Some(&shard.id), &base_fields, &target, &source, &merge)
                .await?;
            return Ok(None);
        }
        if merge.to_source.is_empty() {
            return Ok(Some((record, state, changes)));
        }
        // The platform won some fields: they go to the provider, and the
        // platform receives the merged record.
        let modified_at = reconcile.push(&merge.to_source, record.modified_at).await?;
        let merged = provider.with_fields(&current, &merge.to_source);
        let raw = raw_json(&merged);
        let changes = reconcile.changes(&base_fields, &provider.fields_of(&merged));
        let state = RecordState {
            content_hash: Some(hash_value(&merged)),
            // What is stored is the merge, not the provider's bytes.
            raw_hash: None,
            snapshot: Some(raw.clone()),
            modified_at,
            ..state
        };
        let record = ExternalRecord {
            raw,
            modified_at,
            ..record
        };
        Ok(Some((record, state, Some(changes))))
    }

    /// Where the next run of `entity` starts reading, for a provider without
    /// a change window; saved with the run's last commit, when nothing is held.
    fn resume_from(&mut self, entity: &str, page: Option<String>) {
        if let Some(cursor) = self.cursors.get_mut(entity).filter(|_| !self.windowed) {
            cursor.resume_page = page;
        }
    }

    /// Refuses a page this run has read before (same entity type, same
    /// records in the same order): paging that does not move would repeat forever.
    fn check_not_seen(&mut self, entity: &str, records: &[ExternalRecord]) -> Result<(), RunError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut fingerprint = xxhash_rust::xxh3::Xxh3::new();
        fingerprint.update(entity.as_bytes());
        // Ids only: a proxy record without a modification time is stamped
        // with the time it was read, which differs on every re-read.
        for record in records {
            fingerprint.update(&[0]);
            fingerprint.update(record.external_id.as_bytes());
        }
        if self.pages_seen.insert(fingerprint.digest128()) {
            return Ok(());
        }
        Err(RunError::RepeatedPage {
            entity_type: entity.to_owned(),
            page: self.pages_seen.len() as u64 + 1,
        })
    }

    /// Stops a run before it deletes more than the configured share of an
    /// entity's known records (a provider returning "everything deleted" must
    /// not wipe the platform).
    fn check_mass_delete(&mut self, entity: &str, deletions: u64) -> Result<(), RunError> {
        if deletions == 0 {
            return Ok(());
        }
        let settings = &self.engine.settings;
        let total = self.deleted_in_run.get(entity).copied().unwrap_or(0) + deletions;
        let known = self.cursors.get(entity).map_or(0, |c| c.known_records);
        if total >= settings.mass_delete_min
            && total as f64 > settings.mass_delete_share * known as f64
        {
            return Err(RunError::MassDelete {
                entity_type: entity.to_owned(),
                deletions: total,
                known,
            });
        }
        self.deleted_in_run.insert(entity.to_owned(), total);
        Ok(())
    }

    /// Publishes (confirmed), then records states, counters, cursors and
    /// progress. Both run in the background while the next page is read and
    /// classified (the provider, the broker and the store work at the same
    /// time); the next commit waits for them first, so pages are published
    /// and written in order, and nothing is written before its events are
    /// confirmed.
    async fn commit(
        &mut self,
        outgoing: Outgoing,
        deleted: Vec<(ExternalRecord, RecordState)>,
        last: bool,
    ) -> Result<(), RunError> {
        let events = outgoing.events;
        let mut states = Vec::with_capacity(outgoing.records.len() + deleted.len());
        for published in outgoing.records {
            let entity = published.record.entity_type;
            let Some((kind, state)) = self.pending.remove(&entity, &published.record.external_id)
            else {
                continue; // deleted while held: its tombstone is already written
            };
            match kind {
                ChangeKind::Created => {
                    self.counters.records_created += 1;
                    if let Some(cursor) = self.cursors.get_mut(&entity) {
                        cursor.known_records += 1;
                    }
                }
                ChangeKind::Updated => self.counters.records_updated += 1,
            }
            states.push(state);
        }
        for (record, tombstone) in deleted {
            self.counters.records_deleted += 1;
            if let Some(cursor) = self.cursors.get_mut(&record.entity_type) {
                cursor.known_records = cursor.known_records.saturating_sub(1);
            }
            states.push(tombstone);
        }
        metrics::counter!("sync_records_published_total").increment(states.len() as u64);
        while self.writing.len() >= IN_FLIGHT
            || (!self.writing.is_empty()
                && self.states_in_flight() + states.len() > STATES_IN_FLIGHT)
        {
            self.settle_oldest().await?;
        }
        let states = Arc::new(states);
        let by_id = states
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let (sent, on_sent) = oneshot::channel();
        let (published, on_published) = oneshot::channel();
        let (written, on_written) = oneshot::channel();
        let record = PageRecord {
            after_sent: self.last_sent.replace(on_sent),
            sent,
            after_published: self.last_published.replace(on_published),
            published,
            after: self.last_written.replace(on_written),
            written,
            bus: self.engine.bus.clone(),
            events: events.into(),
            repo: self.engine.repo.clone(),
            task: self.task.clone(),
            states: states.clone(),
            progress: self.progress_due(last).then(|| Progress {
                cursors: self.cursors_to_save(),
                execution: SyncExecution {
                    counters: self.counters,
                    ..self.execution.clone()
                },
                expected: self.expected,
                pages: self.pages,
            }),
        };
        self.writing.push_back(PageWrite {
            states,
            by_id,
            job: tokio::spawn(record.write()),
        });
        Ok(())
    }

    /// Whether this commit records cursors and progress: the last one of a
    /// run always does, others at most every [`PROGRESS_EVERY`]. Between
    /// them the cursors lag (a crash re-reads those pages and finds their
    /// records unchanged); the states of changed records are written with
    /// every page regardless.
    fn progress_due(&mut self, last: bool) -> bool {
        let now = tokio::time::Instant::now();
        let due = last
            || self
                .progress_at
                .is_none_or(|at| now.duration_since(at) >= PROGRESS_EVERY);
        if due {
            self.progress_at = Some(now);
        }
        due
    }

    /// Waits for every page in flight, oldest first.
    async fn settle(&mut self) -> Result<(), RunError> {
        while !self.writing.is_empty() {
            self.settle_oldest().await?;
        }
        Ok(())
    }

    /// The changed records of the pages in flight (their states, events
    /// and frames are what a page in flight holds in memory).
    fn states_in_flight(&self) -> usize {
        self.writing.iter().map(|w| w.states.len()).sum()
    }

    /// Waits for the oldest page in flight; its error is the run's.
    async fn settle_oldest(&mut self) -> Result<(), RunError> {
        let Some(writing) = self.writing.pop_front() else {
            return Ok(());
        };
        writing.job.await.map_err(|e| {
            RunError::Store(StoreError::Unexpected(anyhow::anyhow!(
                "publishing or writing a page failed: {e}"
            )))
        })?
    }

    /// Every cursor; positions move only while nothing is held back.
    fn cursors_to_save(&mut self) -> Vec<EntityCursor> {
        if self.publisher.is_idle() {
            for (entity, position) in &self.reached {
                if let Some(cursor) = self.cursors.get_mut(entity)
                    && cursor.position.as_ref().is_none_or(|p| position > p)
                {
                    cursor.position = Some(position.clone());
                }
            }
        }
        let now = time::now();
        self.cursors
            .values()
            .cloned()
            .map(|mut c| {
                c.updated_at = now;
                c
            })
            .collect()
    }
}

/// What one committed page sends and leaves in the store, in this order:
/// its events (confirmed by the broker), the states of the records it
/// published, the cursors (which never pass a record whose state is not
/// written), the task's counters and the execution's progress.
struct PageRecord {
    /// The previous page's events were handed to the broker: this page's go
    /// out after them (one channel keeps their order), while the broker may
    /// still be confirming them.
    after_sent: Option<oneshot::Receiver<()>>,
    /// Told when this page's events are handed to the broker.
    sent: oneshot::Sender<()>,
    /// The previous page's events are confirmed; `true` if they were
    /// published a second time (see [`publish_in_order`]).
    after_published: Option<oneshot::Receiver<bool>>,
    /// Told when this page's events are confirmed, and whether they were
    /// published a second time.
    published: oneshot::Sender<bool>,
    /// The previous page's write: this page's states go to the store after it.
    after: Option<oneshot::Receiver<()>>,
    /// Told when this page is written (dropped unsent if it failed).
    written: oneshot::Sender<()>,
    bus: Arc<dyn EventBus>,
    events: Arc<[OutboundEvent]>,
    repo: Repository,
    task: SyncTask,
    states: Arc<Vec<RecordState>>,
    /// Absent between progress reports (see `Walk::progress_due`).
    progress: Option<Progress>,
}

struct Progress {
    cursors: Vec<EntityCursor>,
    execution: SyncExecution,
    expected: Option<u64>,
    pages: u64,
}

/// Pages in flight at once: a page's events are sent (after the page
/// before's, so events keep their order) while the broker still confirms
/// the page before's and the store writes it (this page's states wait for
/// that write), so the broker's confirms and the store's writes overlap.
/// Four, not two: with two, a first sync's walk waited half its time for
/// the page two before to be confirmed and written (a probe of a 300k
/// first sync: 1.0 s of 2.1 s; with four 0.5 s, and the sync 5–15 % faster),
/// for ~6 MB more of records held.
const IN_FLIGHT: usize = 4;

/// Changed records in flight at most (a page always goes out, however
/// large): memory bounded by records rather than pages. Four pages of the
/// sandbox's 1,000 records, two of integration-manager's 2,000 (with four,
/// a first sync of 20k records with per-record events peaked at 122 MB
/// against 91 MB with two).
const STATES_IN_FLIGHT: usize = 4_000;

/// How often a run records its cursors and progress (task counters, the
/// execution): one write each per second at most instead of per page, so a
/// page of unchanged records costs the store a read and nothing more.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How often a run waiting for a page asks its provider whether it waits
/// for the provider's limit (an in-memory look; a write only on change).
const WAIT_NOTE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl PageRecord {
    async fn write(self) -> Result<(), RunError> {
        let again = publish_in_order(
            self.bus.as_ref(),
            &self.events,
            self.after_sent,
            self.sent,
            self.after_published,
        )
        .await?;
        let _ = self.published.send(again);
        // The previous page's failure is the run's error (its own job says
        // why); this page then writes nothing.
        if let Some(after) = self.after
            && after.await.is_err()
        {
            return Err(RunError::Store(StoreError::Unexpected(anyhow::anyhow!(
                "the page before was not written"
            ))));
        }
        let tenant = self.task.tenant_id;
        self.repo.upsert_many(tenant, &self.states).await?;
        let Some(progress) = self.progress else {
            let _ = self.written.send(());
            return Ok(());
        };
        self.repo.upsert_many(tenant, &progress.cursors).await?;
        let counters = progress.execution.counters;
        let mut cancel_requested = false;
        let mut still_ours = true;
        self.repo
            .update::<SyncTask, _>(tenant, &self.task.task_id.to_string(), |t| {
                // A run that was taken for dead (and resumed elsewhere) stops.
                still_ours = t.run_lease == self.task.run_lease;
                if !still_ours {
                    return false;
                }
                t.counters = counters.onto(t.counters);
                t.records_expected = progress.expected.or(t.records_expected);
                t.pages_read = progress.pages;
                t.updated_at = time::now();
                cancel_requested = t.cancel_requested;
                true
            })
            .await?;
        if !still_ours {
            return Err(RunError::LeaseLost);
        }
        self.repo.upsert(&progress.execution).await?;
        if cancel_requested {
            return Err(RunError::Cancelled);
        }
        let _ = self.written.send(());
        Ok(())
    }
}

/// Publishes a page's events after the page before's: handed to the broker
/// once that page's are, confirmed while the next page's go out. If the
/// confirms fail with the broker out of reach, or the page before went out
/// a second time, the page is published again (same ids) once the page
/// before is confirmed, so the last copy of every page reaches the broker in
/// page order. Returns whether it published a second time.
async fn publish_in_order(
    bus: &dyn EventBus,
    events: &Arc<[OutboundEvent]>,
    after_sent: Option<oneshot::Receiver<()>>,
    sent: oneshot::Sender<()>,
    after_published: Option<oneshot::Receiver<bool>>,
) -> Result<bool, RunError> {
    if let Some(after) = after_sent {
        // A page before that failed is reported below, by its publish signal.
        let _ = after.await;
    }
    let confirming = match events.is_empty() {
        true => None,
        false => Some(bus.send(events.clone()).await),
    };
    let _ = sent.send(());
    let confirmed = match confirming {
        None => Ok(()),
        Some(Ok(confirming)) => confirming.await,
        Some(Err(e)) => Err(e),
    };
    let before_again = match after_published {
        None => false,
        Some(after) => after.await.map_err(|_| {
            RunError::Store(StoreError::Unexpected(anyhow::anyhow!(
                "the page before was not published"
            )))
        })?,
    };
    let again = match confirmed {
        Ok(()) => before_again,
        Err(PublishError::Unavailable(why)) => {
            tracing::warn!(%why, "a page's events were not confirmed; publishing them again");
            true
        }
        Err(e) => return Err(e.into()),
    };
    if again && !events.is_empty() {
        bus.publish(events).await?;
    }
    Ok(again)
}

/// A page being fetched in a task of its own; dropping it cancels the fetch.
struct ReadAhead(tokio::task::JoinHandle<Result<RecordPage, ProviderError>>);

impl ReadAhead {
    fn start(
        provider: &Arc<dyn Provider>,
        integration: &Integration,
        request: PageRequest,
    ) -> Self {
        let (provider, integration) = (provider.clone(), integration.clone());
        ReadAhead(tokio::spawn(async move {
            provider.fetch_page(&integration, request).await
        }))
    }

    async fn page(mut self) -> Result<RecordPage, RunError> {
        match (&mut self.0).await {
            Ok(page) => Ok(page?),
            Err(e) => Err(RunError::Provider(ProviderError::Unexpected(
                anyhow::anyhow!("reading a page failed: {e}"),
            ))),
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod in_flight_tests;
#[cfg(test)]
mod page_wait_tests;
#[cfg(test)]
mod tests;
