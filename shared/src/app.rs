//! Wiring: builds the adapters the configuration asks for, the engine over
//! them, and the HTTP state. Every host (the local runner, tests, later the
//! functions) starts here.

use std::{future::Future, sync::Arc, time::Duration};

use async_trait::async_trait;
use tokio::net::TcpListener;

use crate::{
    adapters::{
        bus::{
            InProcessBus, MeteredBus, RabbitMqBus,
            consumer::{ConsumerSettings, RabbitMqConsumer},
        },
        directory::FileDirectory,
        platform::{IntegrationManager, PlatformClient, SecretManagement, ShardManager},
        provider::{
            SandboxProvider,
            http::{HttpPolicy, ProviderHttp},
            hubspot::HubSpotProvider,
            proxy::IntegrationManagerProxy,
            salesforce::SalesforceProvider,
        },
        store::{CosmosStore, CosmosStoreOptions, SqliteStore},
    },
    auth::{TokenIssuer, TokenVerifier},
    config::{CosmosSettings, Settings},
    domain::events::{EventFactory, EventType, platform_rule},
    engine::{
        EngineSettings, SyncEngine,
        limits::{LimitSettings, SyncLimiter},
    },
    http::{AppState, HealthCheck},
    ports::{Collection, DocumentStore, EventBus, IntegrationDirectory, ProviderRegistry},
    repository::Repository,
    triggers::{EventDispatcher, TokenRefresher, timers},
    webhooks::{
        WebhookService,
        delivery::{DeliveryWorker, WebhookFanout},
        url_guard::HostAllowlist,
    },
};

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("store: {0}")]
    Store(String),
    #[error("event bus: {0}")]
    Bus(String),
    #[error("integration directory: {0}")]
    Directory(String),
}

pub struct App {
    pub settings: Settings,
    pub engine: Arc<SyncEngine>,
    pub state: AppState,
    /// Set in embedded mode, so a host can watch the events.
    pub in_process_bus: Option<InProcessBus>,
    /// Set with RabbitMQ: the container consumes the service queue through it.
    pub rabbitmq: Option<Arc<RabbitMqBus>>,
    pub bus: Arc<dyn EventBus>,
    /// The sandbox provider, so demos and tests can change its records.
    pub sandbox: SandboxProvider,
    /// Handles consumed events (the container's consumer, the functions).
    pub dispatcher: EventDispatcher,
    /// Delivers published events to webhooks.
    pub deliveries: DeliveryWorker,
    pub events: EventFactory,
    pub instance_id: String,
    store: Arc<dyn DocumentStore>,
}

impl App {
    pub async fn build(settings: Settings) -> Result<Self, BootstrapError> {
        Self::build_with(settings, BrokerConnect::BeforeStart).await
    }

    pub async fn build_with(
        settings: Settings,
        broker: BrokerConnect,
    ) -> Result<Self, BootstrapError> {
        let instance_id = settings.instance_id.clone().unwrap_or_else(|| {
            format!(
                "integration-sync-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            )
        });
        let store = build_store(&settings).await?;
        let (bus, in_process_bus, rabbitmq) = build_bus(&settings, broker).await?;
        let deliveries =
            DeliveryWorker::start(Repository::new(store.clone()), settings.webhooks.clone())
                .map_err(|e| BootstrapError::Bus(format!("webhook delivery: {e}")))?;
        let bus: Arc<dyn EventBus> = Arc::new(WebhookFanout::new(bus, deliveries.clone()));
        let neighbours = Neighbours::build(&settings)?;
        let directory = build_directory(&settings, neighbours.integration_manager.clone())?;
        let sandbox = SandboxProvider::default();
        let providers = build_providers(&settings, sandbox.clone(), &neighbours)?;
        let events = event_factory(&settings, &instance_id);
        let repo = Repository::new(store.clone());
        let limiter = SyncLimiter::new(
            repo.clone(),
            LimitSettings {
                max_concurrent_per_tenant: settings.sync_limits.max_concurrent_syncs_per_tenant,
                min_interval: Duration::from_secs(settings.sync_limits.min_interval_minutes * 60),
                lease_ttl: Duration::from_millis(settings.sync_limits.lease_ttl_ms),
            },
        );
        let engine = SyncEngine::new(
            repo,
            bus.clone(),
            directory,
            providers,
            events.clone(),
            EngineSettings {
                page_size: settings.sync_limits.page_size,
                max_records_per_sync: settings.sync_limits.max_records_per_sync,
                cursor_overlap: Duration::from_millis(settings.sync_limits.cursor_overlap_ms),
                mass_delete_share: settings.sync_limits.mass_delete_share,
                mass_delete_min: settings.sync_limits.mass_delete_min,
                batch_events: settings.mapping.batch_events,
                batch_threshold: settings.mapping.batch_threshold,
                batch_size: settings.mapping.batch_size,
                outage_tolerance: Duration::from_millis(settings.recovery.outage_tolerance_ms),
            },
            limiter,
        );
        let engine = match neighbours.shard_manager {
            Some(shards) => engine.with_shards(Arc::new(shards)),
            None => engine,
        };
        let refresher = TokenRefresher::new(
            Repository::new(store.clone()),
            neighbours.integration_manager.clone(),
            Duration::from_millis(settings.services.integration_manager.timeout_ms),
        );
        let dispatcher = EventDispatcher::new(
            engine.clone(),
            Repository::new(store.clone()),
            bus.clone(),
            events.clone(),
            Duration::from_secs(settings.mapping.idempotency_ttl),
            refresher,
        );
        let health_checks: Vec<Arc<dyn HealthCheck>> = vec![
            Arc::new(StoreHealth(store.clone())),
            Arc::new(BusHealth(bus.clone())),
        ];
        let webhooks = WebhookService::new(
            Repository::new(store.clone()),
            HostAllowlist::new(settings.webhooks.allowed_hosts.clone()),
        )
        .with_deliveries(deliveries.clone());
        let state = AppState {
            engine: engine.clone(),
            webhooks,
            metrics: crate::http::metrics::recorder(),
            verifier: TokenVerifier::new(&settings.jwt),
            health_checks: Arc::new(health_checks),
            body_limit_bytes: settings.server.body_limit_bytes,
        };
        Ok(App {
            settings,
            engine,
            state,
            in_process_bus,
            rabbitmq,
            bus: bus.clone(),
            sandbox,
            dispatcher,
            deliveries,
            events,
            instance_id,
            store,
        })
    }

    /// The store the engine uses (benchmarks and operational tools).
    pub fn engine_store(&self) -> Arc<dyn DocumentStore> {
        self.store.clone()
    }

    pub fn router(&self) -> axum::Router {
        crate::http::router(self.state.clone())
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
        let grace = Duration::from_millis(self.settings.server.shutdown_grace_ms);
        let running = self.engine.runner().running();
        if running > 0 {
            tracing::info!(running, "stopping running syncs");
        }
        if !self.engine.runner().shutdown(grace).await {
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
        let mut background = tokio::task::JoinSet::new();
        if let Some(rabbitmq) = &self.rabbitmq {
            let consumer = RabbitMqConsumer::new(
                rabbitmq.clone(),
                ConsumerSettings {
                    queue: self.settings.rabbitmq.queue.clone(),
                    prefetch: self.settings.mapping.prefetch,
                    attempts: self.settings.mapping.retry_attempts.max(1),
                    backoff: Duration::from_millis(self.settings.mapping.retry_backoff_ms),
                },
                self.dispatcher.clone(),
            );
            background.spawn(consumer.run(stop.child_token()));
        }
        if self.settings.sync_scheduler.enabled {
            let (bus, events) = (self.bus.clone(), self.events.clone());
            let period = Duration::from_millis(self.settings.sync_scheduler.interval_ms);
            let stop = stop.child_token();
            background.spawn(async move {
                timers::run_timer(
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
        if self.settings.token_refresh.enabled {
            let (bus, events) = (self.bus.clone(), self.events.clone());
            let period = Duration::from_millis(self.settings.token_refresh.interval_ms);
            let threshold =
                Duration::from_millis(self.settings.token_refresh.expiration_threshold_ms);
            let stop = stop.child_token();
            background.spawn(async move {
                timers::run_timer(
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
        if self.settings.recovery.enabled {
            let engine = self.engine.clone();
            let period = Duration::from_millis(self.settings.recovery.interval_ms);
            let stop = stop.child_token();
            background.spawn(async move {
                engine.run_recovery(period, stop).await;
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

async fn build_store(settings: &Settings) -> Result<Arc<dyn DocumentStore>, BootstrapError> {
    if let Some(options) = cosmos_options(&settings.cosmos_db) {
        let store = CosmosStore::connect(options)
            .await
            .map_err(|e| BootstrapError::Store(e.to_string()))?;
        tracing::info!(database = %store.database_id(), "using Azure Cosmos DB");
        return Ok(Arc::new(store));
    }
    let store = SqliteStore::open_in_dir(&settings.storage.data_dir)
        .map_err(|e| BootstrapError::Store(e.to_string()))?;
    tracing::info!(path = %store.path().display(), "using the embedded SQLite store");
    Ok(Arc::new(store))
}

/// Cosmos DB options when an endpoint is configured (validation guarantees the key).
pub fn cosmos_options(cosmos: &CosmosSettings) -> Option<CosmosStoreOptions> {
    let endpoint = cosmos.endpoint.clone()?;
    let key = cosmos.key.clone()?;
    let names = &cosmos.containers;
    let containers = Collection::ALL
        .into_iter()
        .map(|collection| {
            let name = match collection {
                Collection::SyncTasks => &names.sync_tasks,
                Collection::Executions => &names.executions,
                Collection::Conflicts => &names.conflicts,
                Collection::Webhooks => &names.webhooks,
                Collection::Leases => &names.leases,
                Collection::SyncState => &names.sync_state,
                Collection::ProcessedEvents => &names.processed_events,
                Collection::Deliveries => &names.deliveries,
            };
            (collection, name.clone())
        })
        .collect();
    Some(CosmosStoreOptions {
        endpoint,
        key,
        database_id: cosmos.database_id.clone(),
        containers,
        create_if_missing: cosmos.create_containers,
        region: cosmos.region.clone(),
        allow_http2: cosmos.allow_http2,
    })
}

/// When the broker connection is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerConnect {
    /// During the build: an unreachable broker fails the start (the container).
    BeforeStart,
    /// In the background: the start does not wait for the handshake, and the
    /// first publish waits for the connection (a function's cold start).
    InBackground,
}

async fn build_bus(
    settings: &Settings,
    broker: BrokerConnect,
) -> Result<
    (
        Arc<dyn EventBus>,
        Option<InProcessBus>,
        Option<Arc<RabbitMqBus>>,
    ),
    BootstrapError,
> {
    match &settings.rabbitmq.url {
        Some(url) => {
            let outage_tolerance = Duration::from_millis(settings.recovery.outage_tolerance_ms);
            let bus = match broker {
                BrokerConnect::BeforeStart => {
                    let bus = RabbitMqBus::connect(&settings.rabbitmq, url, outage_tolerance)
                        .await
                        .map_err(|e| BootstrapError::Bus(e.to_string()))?;
                    tracing::info!(exchange = %settings.rabbitmq.exchange, "connected to RabbitMQ");
                    bus
                }
                BrokerConnect::InBackground => {
                    RabbitMqBus::connect_in_background(&settings.rabbitmq, url, outage_tolerance)
                        .map_err(|e| BootstrapError::Bus(e.to_string()))?
                }
            };
            Ok((Arc::new(MeteredBus::new(bus.clone())), None, Some(bus)))
        }
        None => {
            tracing::info!("using the in-process event bus (no RABBITMQ_URL)");
            let bus = InProcessBus::default();
            Ok((Arc::new(MeteredBus::new(bus.clone())), Some(bus), None))
        }
    }
}

/// The platform's neighbours that are configured, over one client.
struct Neighbours {
    integration_manager: Option<IntegrationManager>,
    shard_manager: Option<ShardManager>,
    secret_management: Option<Arc<SecretManagement>>,
}

impl Neighbours {
    fn build(settings: &Settings) -> Result<Self, BootstrapError> {
        let client = PlatformClient::new(TokenIssuer::new(&settings.jwt))
            .map_err(|e| BootstrapError::Directory(format!("platform client: {e}")))?;
        let services = &settings.services;
        let timeout = |ms: u64| Duration::from_millis(ms);
        let failed = |e: anyhow::Error| BootstrapError::Directory(e.to_string());
        let integration_manager = services
            .integration_manager
            .url
            .as_deref()
            .map(|url| {
                IntegrationManager::new(
                    client.clone(),
                    url,
                    timeout(services.integration_manager.timeout_ms),
                )
            })
            .transpose()
            .map_err(failed)?;
        let shard_manager = services
            .shard_manager
            .url
            .as_deref()
            .map(|url| {
                ShardManager::new(
                    client.clone(),
                    url,
                    timeout(services.shard_manager.timeout_ms),
                )
            })
            .transpose()
            .map_err(failed)?;
        let secrets = &services.secret_management;
        let secret_management = secrets
            .url
            .as_deref()
            .map(|url| {
                SecretManagement::new(
                    client.clone(),
                    url,
                    secrets.path.as_deref().unwrap_or("/api/secrets"),
                    timeout(secrets.timeout_ms),
                    integration_manager.clone(),
                )
            })
            .transpose()
            .map_err(failed)?;
        Ok(Neighbours {
            integration_manager,
            shard_manager,
            secret_management,
        })
    }
}

/// The event factory, with batches under their configured routing key (a
/// name the platform's rule refuses is allowed, with a warning: some platform
/// may accept it).
fn event_factory(settings: &Settings, instance_id: &str) -> EventFactory {
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

/// Every provider adapter: the native ones share one HTTP client, budget and
/// credentials; integration-manager's adapters are the fallback.
fn build_providers(
    settings: &Settings,
    sandbox: SandboxProvider,
    neighbours: &Neighbours,
) -> Result<ProviderRegistry, BootstrapError> {
    let mut providers = ProviderRegistry::default().with("sandbox", Arc::new(sandbox));
    if let Some(manager) = &neighbours.integration_manager {
        let proxy = IntegrationManagerProxy::new(manager.clone());
        providers = providers
            .with("integration-manager", proxy.clone())
            .with_fallback(proxy);
    }
    let Some(credentials) = neighbours.secret_management.clone() else {
        tracing::info!("no secret-management URL: only the sandbox provider is available");
        return Ok(providers);
    };
    let http = ProviderHttp::new(HttpPolicy::from(&settings.providers), credentials)
        .map_err(|e| BootstrapError::Directory(format!("provider HTTP client: {e}")))?;
    let hubspot = &settings.providers.hubspot;
    Ok(providers
        .with(
            "salesforce",
            Arc::new(SalesforceProvider::new(
                http.clone(),
                &settings.providers.salesforce.api_version,
            )),
        )
        .with(
            "hubspot",
            Arc::new(HubSpotProvider::new(
                http,
                &hubspot.base_url,
                hubspot.search_result_cap,
            )),
        ))
}

fn build_directory(
    settings: &Settings,
    integration_manager: Option<IntegrationManager>,
) -> Result<Arc<dyn IntegrationDirectory>, BootstrapError> {
    match integration_manager {
        Some(manager) => Ok(Arc::new(manager)),
        None => {
            let path = &settings.storage.integrations_file;
            let directory =
                FileDirectory::load(path).map_err(|e| BootstrapError::Directory(e.to_string()))?;
            tracing::info!(path = %path, "serving integrations from a local file");
            Ok(Arc::new(directory))
        }
    }
}

struct StoreHealth(Arc<dyn DocumentStore>);

#[async_trait]
impl HealthCheck for StoreHealth {
    fn name(&self) -> &'static str {
        "store"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.health().await.map_err(|e| e.to_string())
    }
}

struct BusHealth(Arc<dyn EventBus>);

#[async_trait]
impl HealthCheck for BusHealth {
    fn name(&self) -> &'static str {
        "eventBus"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.health().await.map_err(|e| e.to_string())
    }
}
