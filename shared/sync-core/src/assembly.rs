//! Assembling the core from the adapters a host chose. Every host (the
//! container, each function, tests) builds its adapters with the builders of
//! the adapter crates it links, then hands them here: the engine, the
//! dispatcher of consumed events and the event factory come out, configured
//! from the same settings.

use std::sync::Arc;

use crate::{
    config::Settings,
    domain::events::{EventFactory, EventType, platform_rule},
    engine::{
        EngineSettings, RunPlacement, SyncEngine,
        limits::{LimitSettings, SyncLimiter},
    },
    inbound::{EventDispatcher, TokenRefresher},
    ports::{
        ConnectionRefresher, DocumentStore, EventBus, IntegrationDirectory, ProviderRegistry,
        shard_source::ShardSource,
    },
    repository::Repository,
};

/// What the core talks to. Only the store and the bus are always needed;
/// a host that never syncs (a function that only counts mapping results)
/// leaves the directory empty and the providers unregistered.
pub struct Adapters {
    pub store: Arc<dyn DocumentStore>,
    pub bus: Arc<dyn EventBus>,
    pub directory: Arc<dyn IntegrationDirectory>,
    pub providers: ProviderRegistry,
    pub shards: Option<Arc<dyn ShardSource>>,
    pub connections: Option<Arc<dyn ConnectionRefresher>>,
}

/// The core as a host runs it.
#[derive(Clone)]
pub struct Core {
    pub settings: Arc<Settings>,
    pub instance_id: String,
    pub engine: Arc<SyncEngine>,
    pub dispatcher: EventDispatcher,
    pub events: EventFactory,
    pub bus: Arc<dyn EventBus>,
    pub store: Arc<dyn DocumentStore>,
}

impl Core {
    /// The core of a host that runs the tasks it triggers.
    pub fn assemble(settings: Settings, adapters: Adapters) -> Core {
        Self::assemble_placing(settings, adapters, RunPlacement::InProcess)
    }

    /// The core of a host that hands the tasks it triggers to the function
    /// that owns runs (the HTTP API as a function).
    pub fn assemble_handing_off(settings: Settings, adapters: Adapters) -> Core {
        Self::assemble_placing(settings, adapters, RunPlacement::HandOff)
    }

    fn assemble_placing(settings: Settings, adapters: Adapters, placement: RunPlacement) -> Core {
        let instance_id = instance_id(&settings);
        let events = event_factory(&settings, &instance_id);
        let repo = Repository::new(adapters.store.clone());
        let limiter = SyncLimiter::new(repo.clone(), LimitSettings::from(&settings));
        let engine = SyncEngine::new(
            repo.clone(),
            adapters.bus.clone(),
            adapters.directory,
            adapters.providers,
            events.clone(),
            EngineSettings {
                placement,
                ..EngineSettings::from(&settings)
            },
            limiter,
        );
        let engine = match adapters.shards {
            Some(shards) => engine.with_shards(shards),
            None => engine,
        };
        let refresher = TokenRefresher::new(
            repo.clone(),
            adapters.connections,
            settings.services.integration_manager.timeout,
        );
        let dispatcher = EventDispatcher::new(
            engine.clone(),
            repo,
            adapters.bus.clone(),
            events.clone(),
            settings.mapping.idempotency_ttl,
            refresher,
        );
        Core {
            settings: Arc::new(settings),
            instance_id,
            engine,
            dispatcher,
            events,
            bus: adapters.bus,
            store: adapters.store,
        }
    }
}

/// `instance_id` from the settings, else a fresh one for this process.
pub fn instance_id(settings: &Settings) -> String {
    settings.instance_id.clone().unwrap_or_else(|| {
        format!(
            "integration-sync-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    })
}

/// The event factory, with batches under their configured routing key (a
/// name the platform's rule refuses is allowed, with a warning: some platform
/// may accept it).
pub fn event_factory(settings: &Settings, instance_id: &str) -> EventFactory {
    let factory = EventFactory::new(instance_id.to_owned());
    let batch_type = settings.mapping.batch_event_type.trim();
    if batch_type == EventType::DataRawBatch.name() {
        return factory;
    }
    if settings.mapping.batch_events && !platform_rule::type_passes(batch_type) {
        tracing::warn!(
            batch_event_type = batch_type,
            "batch events go out under a type the platform's envelope rule refuses; its consumers dead-letter them"
        );
    }
    // Read once per process from the configuration and kept for its life.
    factory.with_batch_event_type(Box::leak(batch_type.to_owned().into_boxed_str()))
}

impl From<&Settings> for EngineSettings {
    fn from(settings: &Settings) -> Self {
        let limits = &settings.sync_limits;
        EngineSettings {
            page_size: limits.page_size,
            max_records_per_sync: limits.max_records_per_sync,
            cursor_overlap: limits.cursor_overlap,
            mass_delete_share: limits.mass_delete_share,
            mass_delete_min: limits.mass_delete_min,
            batch_events: settings.mapping.batch_events,
            batch_threshold: settings.mapping.batch_threshold,
            batch_size: settings.mapping.batch_size,
            outage_tolerance: settings.recovery.outage_tolerance,
            deadline_margin: limits.deadline_margin,
            placement: RunPlacement::InProcess,
        }
    }
}

impl From<&Settings> for LimitSettings {
    fn from(settings: &Settings) -> Self {
        let limits = &settings.sync_limits;
        LimitSettings {
            max_concurrent_per_tenant: limits.max_concurrent_syncs_per_tenant,
            min_interval: limits.min_interval,
            lease_ttl: limits.lease_ttl,
        }
    }
}
