//! The sync engine. It talks to the world only through the ports; each stage
//! is a module named for it, adding its methods to [`SyncEngine`]:
//!
//! - trigger (here): a request becomes a task, within the [`limits`];
//! - `inbound`: a run walks the provider and publishes what changed;
//! - [`outbound`]: a `shard.updated` goes to the external system;
//! - [`resolve`]: a person's decision on a conflict goes to both sides;
//! - `reconcile`: the merge-then-push step the three above share;
//! - `hand_off`: a task passed to another run (a trigger that does not run
//!   it; a run that reached its invocation's deadline), and taken up;
//! - `recovery`: runs whose process died are resumed or ended;
//! - `outbox`: a task's change and its events are written together, then published;
//! - `cancel`, [`queries`]: stopping a task, reading tasks and conflicts.

mod cancel;
mod errors;
mod hand_off;
mod inbound;
pub mod limits;
mod outage;
pub mod outbound;
mod outbox;
mod publisher;
pub mod queries;
mod reconcile;
mod recovery;
pub mod resolve;

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use crate::{
    domain::{Direction, Integration, SyncTask, TenantId, events::EventFactory},
    ports::{
        EventBus, IntegrationDirectory, ProviderRegistry, integration_directory::DirectoryError,
    },
    repository::Repository,
};

pub use crate::runtime::TaskRunner;
pub use cancel::CancelError;
pub use errors::{GetTaskError, RunError, TriggerError};
pub use hand_off::{TakeUp, TakeUpError};
use inbound::Claim;
use limits::{LimitError, SyncLimiter};
pub use recovery::RecoveryReport;

/// Tunables of a run, from `sync_limits` and `mapping`.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub page_size: usize,
    /// A run stops after reading this many records (unchanged ones included);
    /// the next one continues.
    pub max_records_per_sync: u64,
    /// Incremental reads start this much before the cursor, to catch changes
    /// committed later than their timestamp.
    pub cursor_overlap: std::time::Duration,
    /// The mass-delete breaker trips when a run would delete more than this
    /// share of an entity's known records ...
    pub mass_delete_share: f64,
    /// ... and at least this many.
    pub mass_delete_min: u64,
    /// Batch events on (else one `integration.data.raw` per record, always).
    pub batch_events: bool,
    /// Up to this many records in a sync: one `integration.data.raw` each.
    pub batch_threshold: usize,
    /// Above the threshold (batch events on): batches of this many records.
    pub batch_size: usize,
    /// A store outage met while recording a run's end is waited out this long.
    pub outage_tolerance: std::time::Duration,
    /// Time kept before a deadline to stop and hand the task on.
    pub deadline_margin: std::time::Duration,
    /// Where a triggered task runs.
    pub placement: RunPlacement,
}

/// Where a triggered task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunPlacement {
    /// In this process, on its [`TaskRunner`] (the container; a function that
    /// consumed the trigger, within its invocation).
    #[default]
    InProcess,
    /// Handed to the function that owns runs: the task is stored with its
    /// slot and `integration.sync.run_requested`, which the trigger publishes
    /// (the HTTP API as a function: Lambda freezes it once it has answered).
    HandOff,
}

/// What a caller asks for.
#[derive(Debug, Clone)]
pub struct TriggerRequest {
    pub integration_id: String,
    pub direction: Direction,
    pub entity_type: Option<String>,
    pub filters: Option<serde_json::Value>,
    /// The user (token subject) or event that asked.
    pub triggered_by: Option<String>,
}

pub struct SyncEngine {
    repo: Repository,
    bus: Arc<dyn EventBus>,
    directory: Arc<dyn IntegrationDirectory>,
    providers: ProviderRegistry,
    events: EventFactory,
    settings: EngineSettings,
    limiter: SyncLimiter,
    /// shard-manager, for outbound events that do not carry the shard.
    shards: Option<Arc<dyn crate::ports::shard_source::ShardSource>>,
    runner: TaskRunner,
}

impl SyncEngine {
    pub fn new(
        repo: Repository,
        bus: Arc<dyn EventBus>,
        directory: Arc<dyn IntegrationDirectory>,
        providers: ProviderRegistry,
        events: EventFactory,
        settings: EngineSettings,
        limiter: SyncLimiter,
    ) -> Arc<Self> {
        Arc::new(SyncEngine {
            limiter,
            shards: None,
            repo,
            bus,
            directory,
            providers,
            events,
            settings,
            runner: TaskRunner::default(),
        })
    }

    /// Adds shard-manager (before the engine is shared).
    pub fn with_shards(
        mut self: Arc<Self>,
        shards: Arc<dyn crate::ports::shard_source::ShardSource>,
    ) -> Arc<Self> {
        if let Some(engine) = Arc::get_mut(&mut self) {
            engine.shards = Some(shards);
        }
        self
    }

    pub fn runner(&self) -> &TaskRunner {
        &self.runner
    }

    /// Validates the request, claims a concurrency slot and the integration's
    /// interval (refusing when a limit is reached), records a pending task and
    /// starts it in the background, or hands it on ([`RunPlacement`]).
    /// Returns as soon as the task is stored (and, handed on, published).
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, integration_id = %request.integration_id))]
    pub async fn trigger(
        self: &Arc<Self>,
        tenant: TenantId,
        request: TriggerRequest,
    ) -> Result<SyncTask, TriggerError> {
        let integration = self
            .directory
            .get_integration(tenant, &request.integration_id)
            .await
            .map_err(|e| match e {
                DirectoryError::NotFound(id) => TriggerError::IntegrationNotFound(id),
                DirectoryError::Unavailable(why) => TriggerError::DirectoryUnavailable(why),
                DirectoryError::Invalid { id, reason } => {
                    TriggerError::IntegrationInvalid { id, reason }
                }
                DirectoryError::Unexpected(e) => TriggerError::Unexpected(e),
            })?;
        let entities = self.check_runnable(&integration, &request)?;
        let mut task = SyncTask::new_pending(
            tenant,
            request.integration_id,
            request.direction,
            request.entity_type,
            request.filters,
            request.triggered_by,
        );
        task.entity_types = entities.clone();
        let handing_off = self.settings.placement == RunPlacement::HandOff;
        let lease = match self
            .limiter
            .acquire(tenant, &task.integration_id, task.task_id, Utc::now())
            .await
        {
            Ok(lease) => lease,
            Err(LimitError::Rejected(why)) => return Err(why.into()),
            Err(LimitError::Store(e)) => return Err(e.into()),
        };
        if handing_off {
            self.prepare_hand_off(&mut task, &lease);
        }
        // The marker first: a task is never stored without one, so recovery
        // finds every task whose process dies from here on.
        let stored = match self.mark_active(&task).await {
            Ok(()) => self.repo.create(&task).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = stored {
            self.limiter.release(&lease).await;
            self.settle(tenant, task.task_id).await;
            return Err(e.into());
        }
        tracing::info!(task_id = %task.task_id, "sync task created");
        if handing_off {
            self.hand_off_created(&task).await;
            return Ok(task);
        }

        self.run_in_background(task.clone(), integration, entities, lease, Claim::Fresh);
        Ok(task)
    }

    /// Entity types the run will walk, or why it cannot run at all.
    fn check_runnable(
        &self,
        integration: &Integration,
        request: &TriggerRequest,
    ) -> Result<Vec<String>, TriggerError> {
        if !integration.is_active() {
            return Err(TriggerError::IntegrationInactive(integration.id.clone()));
        }
        if request.direction != Direction::Inbound {
            return Err(TriggerError::UnsupportedDirection(request.direction));
        }
        if self.providers.get(&integration.provider).is_none() {
            return Err(TriggerError::UnknownProvider(integration.provider.clone()));
        }
        let enabled = integration.enabled_entities();
        match &request.entity_type {
            Some(entity)
                if enabled.is_empty() || enabled.iter().any(|e| e.eq_ignore_ascii_case(entity)) =>
            {
                Ok(vec![entity.clone()])
            }
            Some(entity) => Err(TriggerError::EntityNotMapped(entity.clone())),
            None if enabled.is_empty() => Err(TriggerError::NoEntities(integration.id.clone())),
            None => Ok(enabled),
        }
    }

    pub async fn get_task(
        &self,
        tenant: TenantId,
        task_id: Uuid,
    ) -> Result<SyncTask, GetTaskError> {
        self.repo
            .get::<SyncTask>(tenant, &task_id.to_string())
            .await?
            .map(|v| v.doc)
            .ok_or(GetTaskError::NotFound)
    }
}
