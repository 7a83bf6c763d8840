//! The core assembled over in-memory adapters: a memory store, the in-process
//! bus, integrations from a list, and a [`FakeProvider`] as provider `fake`.

use std::sync::Arc;

use crate::{
    assembly::{Adapters, Core},
    config::{self, Settings},
    domain::{Direction, Integration, TenantId},
    engine::TriggerRequest,
    outbound::{FileDirectory, InProcessBus},
    ports::{EventBus, Provider, ProviderRegistry},
    repository::Repository,
    testing::{FakeProvider, MemoryStore},
};

pub struct Harness {
    pub core: Core,
    pub bus: InProcessBus,
    pub repo: Repository,
}

/// The shipped configuration, for an embedded process.
pub fn settings() -> Settings {
    let mut settings = config::load_from_str(include_str!("../../../../config/default.yaml"))
        .expect("the default configuration loads");
    settings.rabbitmq.url = None;
    settings.cosmos_db.endpoint = None;
    settings.services.integration_manager.url = None;
    settings.sync_limits.max_records_per_sync = 10_000;
    settings.sync_limits.min_interval = std::time::Duration::ZERO;
    settings
}

/// A connected integration of `tenant` whose provider is the fake one.
pub fn fake_integration(tenant: TenantId, id: &str, entities: &[&str]) -> Integration {
    let mappings: Vec<_> = entities
        .iter()
        .map(|e| serde_json::json!({"externalEntity": e, "enabled": true}))
        .collect();
    serde_json::from_value(serde_json::json!({
        "id": id, "tenantId": tenant, "providerName": "fake", "status": "connected",
        "syncConfig": {"syncDirection": "inbound", "entityMappings": mappings}
    }))
    .expect("a valid integration")
}

impl Harness {
    pub fn new(integrations: Vec<Integration>, records_per_entity: u64) -> Harness {
        Self::with_settings(settings(), false, integrations, records_per_entity)
    }

    /// With `settings`; `handing_off` as the HTTP API's function assembles
    /// its core (triggered tasks handed to the function that owns runs).
    pub fn with_settings(
        settings: Settings,
        handing_off: bool,
        integrations: Vec<Integration>,
        records_per_entity: u64,
    ) -> Harness {
        let provider = Arc::new(FakeProvider { records_per_entity });
        Self::with_provider(settings, handing_off, integrations, provider)
    }

    /// With `provider` as provider `fake`.
    pub fn with_provider(
        settings: Settings,
        handing_off: bool,
        integrations: Vec<Integration>,
        provider: Arc<dyn Provider>,
    ) -> Harness {
        let store = Arc::new(MemoryStore::default());
        let bus = InProcessBus::default();
        let assemble = if handing_off {
            Core::assemble_handing_off
        } else {
            Core::assemble
        };
        let adapters = adapters(store.clone(), Arc::new(bus.clone()), integrations, provider);
        Harness {
            core: assemble(settings, adapters),
            bus,
            repo: Repository::new(store),
        }
    }
}

/// The harness's adapters over `store` and `bus`: integrations from a list,
/// `provider` as provider `fake`, no platform neighbours. For a test that
/// needs a bus of its own.
pub fn adapters(
    store: Arc<MemoryStore>,
    bus: Arc<dyn EventBus>,
    integrations: Vec<Integration>,
    provider: Arc<dyn Provider>,
) -> Adapters {
    Adapters {
        store,
        bus,
        directory: Arc::new(FileDirectory::from_integrations(integrations)),
        providers: ProviderRegistry::default().with("fake", provider),
        shards: None,
        connections: None,
    }
}

/// An inbound sync of every enabled entity of `integration_id`, asked by no one.
pub fn inbound_trigger(integration_id: &str) -> TriggerRequest {
    TriggerRequest {
        integration_id: integration_id.into(),
        direction: Direction::Inbound,
        entity_type: None,
        filters: None,
        triggered_by: None,
    }
}
