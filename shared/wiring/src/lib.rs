//! The container's wiring: every adapter the configuration asks for, the core
//! assembled over them, the HTTP state, and the container's own loops (the
//! service queue's consumer, the timers, the recovery sweep). The local
//! runner, the tests and the benchmarks start here; each function wires only
//! what it serves, in its own crate.

pub mod dead_letters;

use std::{future::Future, sync::Arc};

use tokio::net::TcpListener;

#[cfg(feature = "rabbitmq")]
use amqp_consumer::{ConsumerSettings, RabbitMqConsumer};
#[cfg(feature = "rabbitmq")]
use bus_rabbitmq::RabbitMqBus;
use platform::{IntegrationManagerProxy, Neighbours};
use sandbox::SandboxProvider;
#[cfg(feature = "cosmos")]
use store_cosmos::{CosmosStore, CosmosStoreOptions};
use store_sqlite::SqliteStore;
use sync_core::{
    assembly::{Adapters, Core},
    config::Settings,
    inbound::timers,
    outbound::{FileDirectory, InProcessBus, MeteredBus, StoreBudget},
    ports::{BoxError, DocumentStore, EventBus, IntegrationDirectory, ProviderRegistry},
    repository::Repository,
    runtime::publish_every,
    webhooks::{WebhookService, url_guard::HostAllowlist},
};
use sync_http::AppState;
use webhook_delivery::{DeliveryWorker, WebhookFanout};

/// What kept the container from starting, with the adapter's own error.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("store: {0}")]
    Store(#[source] BoxError),
    #[error("event bus: {0}")]
    Bus(#[source] BoxError),
    #[error("webhook delivery: {0}")]
    Deliveries(#[source] BoxError),
    #[error("integration directory: {0}")]
    Directory(#[source] BoxError),
    #[error("provider HTTP client: {0}")]
    Providers(#[source] BoxError),
}

/// The container: the core, the HTTP state over it, and what only an
/// embedded or consuming process has.
pub struct App {
    pub core: Core,
    pub http: AppState,
    /// Set in embedded mode, so a host can watch the events.
    pub in_process_bus: Option<InProcessBus>,
    /// Set with RabbitMQ: the container consumes the service queue through it.
    #[cfg(feature = "rabbitmq")]
    pub rabbitmq: Option<Arc<RabbitMqBus>>,
    /// The sandbox provider, so demos and tests can change its records.
    pub sandbox: SandboxProvider,
    /// Delivers published events to webhooks.
    pub deliveries: DeliveryWorker,
}

impl App {
    pub async fn build(settings: Settings) -> Result<Self, BootstrapError> {
        let store = build_store(&settings).await?;
        let (bus, in_process_bus, _rabbitmq) = build_bus(&settings).await?;
        let deliveries =
            DeliveryWorker::start(Repository::new(store.clone()), settings.webhooks.clone())
                .map_err(|e| BootstrapError::Deliveries(e.into()))?;
        let bus: Arc<dyn EventBus> = Arc::new(WebhookFanout::new(bus, deliveries.clone()));
        let neighbours =
            Neighbours::build(&settings).map_err(|e| BootstrapError::Directory(e.into()))?;
        let directory = build_directory(&settings, &neighbours)?;
        let sandbox = SandboxProvider::default();
        let providers = build_providers(&settings, &store, sandbox.clone(), &neighbours)?;
        let core = Core::assemble(
            settings,
            Adapters {
                store: store.clone(),
                bus,
                directory,
                providers,
                shards: neighbours.shard_manager.clone().map(|s| s as _),
                connections: neighbours
                    .integration_manager
                    .clone()
                    .map(|m| Arc::new(m) as _),
            },
        );
        let invalidate = deliveries.clone();
        let webhooks = WebhookService::new(
            Repository::new(store),
            HostAllowlist::new(core.settings.webhooks.allowed_hosts.clone()),
        )
        .on_change(move |tenant| invalidate.invalidate(tenant));
        let http = AppState::new(&core, webhooks);
        Ok(App {
            core,
            http,
            in_process_bus,
            #[cfg(feature = "rabbitmq")]
            rabbitmq: _rabbitmq,
            sandbox,
            deliveries,
        })
    }

    pub fn router(&self) -> axum::Router {
        sync_http::router(self.http.clone())
    }

    /// Serves HTTP until `shutdown` resolves, then stops running syncs cleanly
    /// (they record `failed` with the reason) within the configured grace period.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router();
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await?;
        let engine = &self.core.engine;
        let grace = self.core.settings.server.shutdown_grace;
        let running = engine.runner().running();
        if running > 0 {
            tracing::info!(running, "stopping running syncs");
        }
        if !engine.runner().shutdown(grace).await {
            tracing::warn!("some syncs did not stop within the grace period");
        }
        Ok(())
    }
}

impl App {
    /// Every trigger in one process (the container): the HTTP API, the service
    /// queue's consumer (with RabbitMQ) and the two timers, until `shutdown`;
    /// then the consumer drains, running syncs stop cleanly, timers end.
    pub async fn run_container(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = tokio_util::sync::CancellationToken::new();
        let mut background = tokio::task::JoinSet::<anyhow::Result<()>>::new();
        let (settings, core) = (self.core.settings.clone(), &self.core);
        #[cfg(feature = "rabbitmq")]
        if let Some(rabbitmq) = &self.rabbitmq {
            let consumer = RabbitMqConsumer::new(
                rabbitmq.clone(),
                ConsumerSettings {
                    queue: settings.rabbitmq.queue.clone(),
                    prefetch: settings.mapping.prefetch,
                    attempts: settings.mapping.retry_attempts.max(1),
                    backoff: settings.mapping.retry_backoff,
                },
                core.dispatcher.clone(),
            );
            background.spawn(consumer.run(stop.child_token()));
        }
        if settings.sync_scheduler.enabled {
            let (bus, events) = (core.bus.clone(), core.events.clone());
            let period = settings.sync_scheduler.interval;
            let stop = stop.child_token();
            background.spawn(async move {
                publish_every(
                    "check-due",
                    bus,
                    period,
                    move || timers::check_due(&events),
                    stop,
                )
                .await;
                Ok(())
            });
        }
        if settings.token_refresh.enabled {
            let (bus, events) = (core.bus.clone(), core.events.clone());
            let period = settings.token_refresh.interval;
            let threshold = settings.token_refresh.expiration_threshold;
            let stop = stop.child_token();
            background.spawn(async move {
                publish_every(
                    "check-expiring",
                    bus,
                    period,
                    move || timers::check_expiring(&events, threshold),
                    stop,
                )
                .await;
                Ok(())
            });
        }
        if settings.recovery.enabled {
            let engine = core.engine.clone();
            let period = settings.recovery.interval;
            let runs_stop = stop.child_token();
            background.spawn(async move {
                engine.run_recovery(period, runs_stop).await;
                Ok(())
            });
            let deliveries = self.deliveries.clone();
            let stop = stop.child_token();
            background.spawn(async move {
                sync_core::runtime::every(period, stop, || async {
                    if let Err(e) = deliveries.recover().await {
                        tracing::warn!(error = %e, "webhook delivery sweep failed; retrying at the next tick");
                    }
                })
                .await;
                Ok(())
            });
        }
        let stop_all = stop.clone();
        self.serve(listener, async move {
            shutdown.await;
            stop_all.cancel();
        })
        .await?;
        stop.cancel();
        while let Some(ended) = background.join_next().await {
            if let Ok(Err(e)) = ended {
                tracing::error!(error = %e, "a background trigger ended with an error");
            }
        }
        Ok(())
    }
}

/// What a build without one of the cloud adapters answers when configured for it.
#[cfg(not(all(feature = "cosmos", feature = "rabbitmq")))]
fn not_built(what: &str, variable: &str) -> BoxError {
    format!(
        "{variable} is set, but this binary was built without {what}: \
         build it with `--features cloud` (the Dockerfile does)"
    )
    .into()
}

async fn build_store(settings: &Settings) -> Result<Arc<dyn DocumentStore>, BootstrapError> {
    #[cfg(feature = "cosmos")]
    if let Some(options) = CosmosStoreOptions::from_settings(&settings.cosmos_db) {
        let store = CosmosStore::connect(options)
            .await
            .map_err(|e| BootstrapError::Store(e.into()))?;
        tracing::info!(database = %store.database_id(), "using Azure Cosmos DB");
        return Ok(Arc::new(store));
    }
    #[cfg(not(feature = "cosmos"))]
    if settings.cosmos_db.endpoint.is_some() {
        return Err(BootstrapError::Store(not_built(
            "Cosmos DB",
            "COSMOS_DB_ENDPOINT",
        )));
    }
    let store = SqliteStore::open_in_dir(&settings.storage.data_dir)
        .map_err(|e| BootstrapError::Store(e.into()))?;
    tracing::info!(path = %store.path().display(), "using the embedded SQLite store");
    Ok(Arc::new(store))
}

#[cfg(feature = "rabbitmq")]
type RabbitMqLink = Arc<RabbitMqBus>;
#[cfg(not(feature = "rabbitmq"))]
type RabbitMqLink = ();

async fn build_bus(
    settings: &Settings,
) -> Result<
    (
        Arc<dyn EventBus>,
        Option<InProcessBus>,
        Option<RabbitMqLink>,
    ),
    BootstrapError,
> {
    match &settings.rabbitmq.url {
        #[cfg(not(feature = "rabbitmq"))]
        Some(_) => Err(BootstrapError::Bus(not_built("RabbitMQ", "RABBITMQ_URL"))),
        #[cfg(feature = "rabbitmq")]
        Some(url) => {
            let outage_tolerance = settings.recovery.outage_tolerance;
            let bus = RabbitMqBus::connect(&settings.rabbitmq, url, outage_tolerance)
                .await
                .map_err(|e| BootstrapError::Bus(e.into()))?;
            tracing::info!(exchange = %settings.rabbitmq.exchange, "connected to RabbitMQ");
            Ok((Arc::new(MeteredBus::new(bus.clone())), None, Some(bus)))
        }
        None => {
            tracing::info!("using the in-process event bus (no RABBITMQ_URL)");
            let bus = InProcessBus::default();
            Ok((Arc::new(MeteredBus::new(bus.clone())), Some(bus), None))
        }
    }
}

/// Every provider: the sandbox, the native ones (with secret-management's
/// credentials), integration-manager's adapters as the fallback.
fn build_providers(
    settings: &Settings,
    store: &Arc<dyn DocumentStore>,
    sandbox: SandboxProvider,
    neighbours: &Neighbours,
) -> Result<ProviderRegistry, BootstrapError> {
    let mut registry = ProviderRegistry::default().with("sandbox", Arc::new(sandbox));
    if let Some(manager) = &neighbours.integration_manager {
        let proxy = IntegrationManagerProxy::new(
            manager.clone(),
            settings.sync_limits.integration_manager_page_size,
        );
        registry = registry
            .with("integration-manager", proxy.clone())
            .with_fallback(proxy);
    }
    let Some(credentials) = neighbours.secret_management.clone() else {
        tracing::info!("no secret-management URL: only the sandbox provider is available");
        return Ok(registry);
    };
    let budget = Arc::new(StoreBudget::new(
        Repository::new(store.clone()),
        &settings.providers,
    ));
    providers::register(registry, &settings.providers, credentials, budget)
        .map_err(|e| BootstrapError::Providers(e.into()))
}

fn build_directory(
    settings: &Settings,
    neighbours: &Neighbours,
) -> Result<Arc<dyn IntegrationDirectory>, BootstrapError> {
    match &neighbours.integration_manager {
        Some(manager) => Ok(Arc::new(manager.clone())),
        None => {
            let path = &settings.storage.integrations_file;
            let directory =
                FileDirectory::load(path).map_err(|e| BootstrapError::Directory(e.into()))?;
            tracing::info!(path = %path, "serving integrations from a local file");
            Ok(Arc::new(directory))
        }
    }
}
