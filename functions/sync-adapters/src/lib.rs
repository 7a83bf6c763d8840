//! What every function that runs syncs wires around the store and the bus:
//! published events delivered to webhooks before the invocation answers, the
//! platform's neighbours (integrations, shards, credentials, connection
//! refreshes), the native providers and integration-manager's adapters as the
//! fallback. The http-api, on-schedule, on-webhook and on-shard-updated
//! functions use it; the others wire less.

use std::sync::Arc;

use platform::{IntegrationManagerProxy, Neighbours};
use sync_core::{
    assembly::Adapters,
    config::Settings,
    outbound::{FileDirectory, StoreBudget},
    ports::{DocumentStore, EventBus, IntegrationDirectory, ProviderRegistry},
    repository::Repository,
};
use webhook_delivery::DeliveryWorker;

/// The adapters of a syncing function, and the worker whose deliveries an
/// invocation waits for.
pub struct Syncing {
    pub adapters: Adapters,
    pub deliveries: DeliveryWorker,
}

pub fn syncing(
    settings: &Settings,
    store: Arc<dyn DocumentStore>,
    bus: Arc<dyn EventBus>,
) -> anyhow::Result<Syncing> {
    let (bus, deliveries) = webhook_delivery::delivering(settings, &store, bus)?;
    let neighbours = Neighbours::build(settings)?;
    let mut providers = ProviderRegistry::default();
    if let Some(manager) = &neighbours.integration_manager {
        providers = providers.with_fallback(IntegrationManagerProxy::new(
            manager.clone(),
            settings.sync_limits.integration_manager_page_size,
        ));
    }
    if let Some(credentials) = neighbours.secret_management.clone() {
        // The budget is the store's: every sandbox of every function shares it.
        let budget = Arc::new(StoreBudget::new(
            Repository::new(store.clone()),
            &settings.providers,
        ));
        providers = providers::register(providers, &settings.providers, credentials, budget)?;
    }
    let directory: Arc<dyn IntegrationDirectory> = match &neighbours.integration_manager {
        Some(manager) => Arc::new(manager.clone()),
        None => Arc::new(FileDirectory::load(&settings.storage.integrations_file)?),
    };
    Ok(Syncing {
        adapters: Adapters {
            store,
            bus,
            directory,
            providers,
            shards: neighbours.shard_manager.map(|s| s as _),
            connections: neighbours.integration_manager.map(|m| Arc::new(m) as _),
        },
        deliveries,
    })
}
