//! `spawn_app()`: the real app on port 0, embedded store in a temporary
//! directory, the real RabbitMQ under names no other test uses.

use std::time::Duration;

use serde_json::Value;
use sync_core::{
    auth::TokenIssuer,
    config::{self, Settings},
    domain::Integration,
};
use tokio::{sync::oneshot, task::JoinHandle};
use uuid::Uuid;
use wiring::App;

use crate::broker::{self, EventObserver};

const DEFAULT_CONFIG: &str = include_str!("../../../config/default.yaml");
/// The user tests act as (a uuid, as the platform's user ids are).
pub const TEST_USER: &str = "5b0e7c1d-2f3a-4b5c-8d6e-7f8091a2b3c4";

#[derive(Default)]
pub struct SpawnOptions {
    pub integrations: Vec<Integration>,
    /// Use integration-manager at this URL instead of a local file.
    pub integration_manager_url: Option<String>,
    /// secret-management (provider credentials).
    pub secret_management_url: Option<String>,
    /// shard-manager (outbound and bidirectional sync).
    pub shard_manager_url: Option<String>,
    /// Reuse a data directory (restart scenarios); a fresh one otherwise.
    pub data_dir: Option<std::path::PathBuf>,
    pub page_size: Option<usize>,
    /// Use a fresh database on the Cosmos DB emulator instead of SQLite.
    pub cosmos: bool,
    /// Share another instance's store, exchange and queues (a second instance).
    pub like: Option<Settings>,
    /// Last adjustments to the settings.
    pub tweak: Option<fn(&mut Settings)>,
    /// Run every trigger (consumer, timers) as the container does.
    pub container: bool,
}

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub settings: Settings,
    pub tokens: TokenIssuer,
    pub events: EventObserver,
    /// The app's engine, to hand it events directly.
    pub engine: std::sync::Arc<sync_core::engine::SyncEngine>,
    /// The app's sandbox provider: change or delete records "at the provider".
    pub sandbox: sandbox::SandboxProvider,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _dirs: Vec<tempfile::TempDir>,
}

/// Settings as the default file gives them, pointed at test resources.
pub fn test_settings() -> Settings {
    let mut settings = config::load_from_str(DEFAULT_CONFIG).expect("default config loads");
    let suffix = Uuid::new_v4().simple().to_string();
    settings.server.port = 0;
    settings.server.host = "127.0.0.1".into();
    settings.server.shutdown_grace = std::time::Duration::from_millis(5_000);
    settings.cosmos_db.endpoint = None;
    settings.services.integration_manager.url = None;
    settings.rabbitmq.url = Some(broker::rabbitmq_url());
    settings.rabbitmq.exchange = format!("it.events.{suffix}");
    settings.rabbitmq.queue = format!("it.service.{suffix}");
    settings.rabbitmq.dead_letter_exchange = format!("it.dlx.{suffix}");
    settings.rabbitmq.dead_letter_queue = format!("it.dlq.{suffix}");
    settings.rabbitmq.queue_expires = std::time::Duration::from_millis(60_000);
    // Most tests trigger the same integration more than once, and sync more
    // records than the platform's default budget per run.
    settings.sync_limits.min_interval = std::time::Duration::ZERO;
    settings.sync_limits.max_records_per_sync = 10_000_000;
    // Timers publish on their first tick; only the timer tests want that.
    settings.sync_scheduler.enabled = false;
    settings.token_refresh.enabled = false;
    // Retries of transient failures, quick in tests.
    settings.mapping.retry_backoff = std::time::Duration::from_millis(50);
    settings
}

/// The local Cosmos gateway now and then mints a container resource id the
/// official SDK cannot parse ("failed to extract database RID"); real Cosmos
/// DB does not. A fresh database avoids it; any other error fails the test.
pub const EMULATOR_RID_QUIRK: &str = "failed to extract database RID";

async fn build_app(settings: &mut Settings) -> App {
    for _ in 0..5 {
        match App::build(settings.clone()).await {
            Ok(app) => return app,
            Err(e)
                if settings.cosmos_db.endpoint.is_some()
                    && e.to_string().contains(EMULATOR_RID_QUIRK) =>
            {
                settings.cosmos_db.database_id = format!("it-{}", Uuid::new_v4().simple());
            }
            Err(e) => panic!("app builds: {e}"),
        }
    }
    panic!("the Cosmos emulator kept minting unreadable resource ids")
}

pub async fn spawn_app(options: SpawnOptions) -> TestApp {
    let mut dirs = Vec::new();
    let mut settings = match options.like {
        Some(settings) => settings,
        None => {
            let mut settings = test_settings();
            settings.storage.data_dir = match options.data_dir {
                Some(dir) => dir.display().to_string(),
                None => {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let path = dir.path().display().to_string();
                    dirs.push(dir);
                    path
                }
            };
            if options.cosmos {
                settings.cosmos_db.endpoint = Some(crate::cosmos::emulator_endpoint());
                settings.cosmos_db.key = Some(secrecy::SecretString::from(
                    crate::cosmos::EMULATOR_KEY.to_owned(),
                ));
                settings.cosmos_db.database_id = format!("it-{}", Uuid::new_v4().simple());
                settings.cosmos_db.allow_http2 = false;
            }
            settings
        }
    };
    let files = tempfile::tempdir().expect("temp dir");
    let integrations_file = files.path().join("integrations.yaml");
    let yaml = serde_json::to_string(&serde_json::json!({"integrations": options.integrations}))
        .expect("integrations serialise");
    // JSON is YAML, so the file reads as the shipped one does.
    std::fs::write(&integrations_file, yaml).expect("write integrations file");
    settings.storage.integrations_file = integrations_file.display().to_string();
    dirs.push(files);
    settings.services.integration_manager.url = options.integration_manager_url;
    if let Some(url) = options.secret_management_url {
        settings.services.secret_management.url = Some(url);
    }
    if let Some(url) = options.shard_manager_url {
        settings.services.shard_manager.url = Some(url);
    }
    // Tests page every provider alike, integration-manager's included.
    if let Some(page_size) = options.page_size {
        settings.sync_limits.page_size = page_size;
        settings.sync_limits.integration_manager_page_size = page_size;
    }
    if let Some(tweak) = options.tweak {
        tweak(&mut settings);
    }

    let url = settings
        .rabbitmq
        .url
        .clone()
        .unwrap_or_else(broker::rabbitmq_url);
    let events = EventObserver::bind_at(&url, &settings.rabbitmq.exchange).await;
    let app = build_app(&mut settings).await;
    let sandbox = app.sandbox.clone();
    let engine = app.core.engine.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let address = format!("http://{}", listener.local_addr().expect("local addr"));
    let (shutdown, on_shutdown) = oneshot::channel::<()>();
    let stop = async move {
        let _ = on_shutdown.await;
    };
    let server = if options.container {
        tokio::spawn(app.run_container(listener, stop))
    } else {
        tokio::spawn(async move { app.serve(listener, stop).await.map_err(anyhow::Error::from) })
    };
    TestApp {
        address,
        http: outgoing_http::client_builder().build().unwrap(),
        tokens: TokenIssuer::new(&settings.jwt),
        settings,
        events,
        sandbox,
        engine,
        shutdown: Some(shutdown),
        server: Some(server),
        _dirs: dirs,
    }
}

impl TestApp {
    /// A user token shaped as the platform's auth service signs it.
    pub fn token_for(&self, tenant: Uuid) -> String {
        self.tokens
            .user_token(TEST_USER, Some(tenant), Duration::from_secs(600))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request with a valid token and tenant header for `tenant`.
    pub fn authed(
        &self,
        method: reqwest::Method,
        path: &str,
        tenant: Uuid,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(self.token_for(tenant))
            .header("X-Tenant-ID", tenant.to_string())
    }

    /// Publishes `event` (an envelope) to the app's exchange under its type,
    /// as the platform's service that owns it would.
    pub async fn send(&self, event: &Value) {
        let url = (self.settings.rabbitmq.url.clone()).unwrap_or_else(broker::rabbitmq_url);
        let key = event["type"].as_str().expect("an envelope has a type");
        broker::publish_raw_at(
            &url,
            &self.settings.rabbitmq.exchange,
            key,
            event.to_string().as_bytes(),
        )
        .await;
    }

    pub async fn trigger(&self, tenant: Uuid, body: Value) -> reqwest::Response {
        self.authed(reqwest::Method::POST, "/api/v1/sync/trigger", tenant)
            .json(&body)
            .send()
            .await
            .expect("trigger request")
    }

    /// Triggers an inbound sync and returns its task id.
    pub async fn trigger_inbound(&self, tenant: Uuid, integration_id: &str) -> String {
        let response = self
            .trigger(
                tenant,
                serde_json::json!({"integrationId": integration_id, "direction": "inbound"}),
            )
            .await;
        assert_eq!(
            response.status(),
            202,
            "{}",
            response.text().await.unwrap_or_default()
        );
        let body: Value = response.json().await.expect("json");
        body["taskId"].as_str().expect("taskId").to_owned()
    }

    pub async fn get_task(&self, tenant: Uuid, task_id: &str) -> Value {
        let response = self
            .authed(
                reqwest::Method::GET,
                &format!("/api/v1/sync/tasks/{task_id}"),
                tenant,
            )
            .send()
            .await
            .expect("get task");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    /// Polls the task until it reaches a terminal status.
    pub async fn wait_for_task_end(&self, tenant: Uuid, task_id: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let task = self.get_task(tenant, task_id).await;
            if matches!(
                task["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            ) {
                return task;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task did not end within {timeout:?}: {task}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A second handle on the app's store (same SQLite file or Cosmos database),
    /// to arrange or inspect state directly.
    pub async fn repository(&self) -> sync_core::repository::Repository {
        use std::sync::Arc;
        use store_cosmos::{CosmosStore, CosmosStoreOptions};
        use store_sqlite::SqliteStore;
        use sync_core::ports::DocumentStore;
        let cosmos = CosmosStoreOptions::from_settings(&self.settings.cosmos_db);
        let store: Arc<dyn DocumentStore> = match cosmos {
            Some(options) => Arc::new(CosmosStore::connect(options).await.expect("cosmos store")),
            None => Arc::new(
                SqliteStore::open_in_dir(&self.settings.storage.data_dir).expect("sqlite store"),
            ),
        };
        sync_core::repository::Repository::new(store)
    }

    /// Stops the server the way SIGTERM does and waits for it to drain.
    pub async fn shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }

    /// Removes the exchanges this test declared (queues expire by themselves).
    pub async fn cleanup(mut self) {
        self.shutdown().await;
        let url = (self.settings.rabbitmq.url.clone()).unwrap_or_else(broker::rabbitmq_url);
        let connection = broker::connect_to(&url).await;
        let channel = connection.create_channel().await.expect("channel");
        for exchange in [
            &self.settings.rabbitmq.exchange,
            &self.settings.rabbitmq.dead_letter_exchange,
        ] {
            let _ = channel
                .exchange_delete(exchange.as_str().into(), Default::default())
                .await;
        }
        for queue in [
            &self.settings.rabbitmq.queue,
            &self.settings.rabbitmq.dead_letter_queue,
        ] {
            let _ = channel
                .queue_delete(queue.as_str().into(), Default::default())
                .await;
        }
    }
}
