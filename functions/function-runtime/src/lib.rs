//! What every function binary shares: start-up (configuration, JSON logs,
//! the store and the broker every function uses), Amazon MQ for RabbitMQ
//! batches, EventBridge schedules, and errors the Lambda runtime reports with
//! a clean type. The core knows nothing of Lambda; this crate adapts its
//! inbound handling to it. Each function is a crate of its own that wires
//! only what it serves, then hands its core to [`run`].

mod error;
mod mq;
mod schedule;

use std::{future::Future, pin::Pin, sync::Arc};

use serde_json::Value;
use sync_core::{
    assembly::Core,
    config::{self, Settings},
    domain::events::EventType,
    inbound::timers,
    outbound::{FileDirectory, MeteredBus},
    ports::{DocumentStore, EventBus, IntegrationDirectory},
    telemetry,
};

pub use error::FunctionError;
pub use schedule::Timer;

const EMBEDDED_CONFIG: &str = include_str!("../../../config/default.yaml");

/// Configuration from `CONFIG_FILE` or the embedded default (with the
/// environment's `${VAR}`s and `INTEGRATION_SYNC__*` overrides); JSON logs.
pub fn settings() -> anyhow::Result<Settings> {
    let settings = match std::env::var("CONFIG_FILE") {
        Ok(path) => config::load_from_file(path)?,
        Err(_) => config::load_from_str(EMBEDDED_CONFIG)?,
    };
    telemetry::init(&settings.log);
    Ok(settings)
}

/// The store: Cosmos DB. A function has no disk to keep an embedded one on.
pub async fn store(settings: &Settings) -> anyhow::Result<Arc<dyn DocumentStore>> {
    let options = store_cosmos::CosmosStoreOptions::from_settings(&settings.cosmos_db)
        .ok_or_else(|| anyhow::anyhow!("a function needs COSMOS_DB_ENDPOINT and COSMOS_DB_KEY"))?;
    Ok(Arc::new(store_cosmos::CosmosStore::connect(options).await?))
}

/// The broker, connecting in the background so the handshake overlaps the
/// rest of the cold start (the first publish waits for it). A function only
/// publishes: its events come from an event-source queue of its own.
pub fn bus(settings: &Settings) -> anyhow::Result<Arc<dyn EventBus>> {
    let url = settings
        .rabbitmq
        .url
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("a function needs RABBITMQ_URL"))?;
    let bus = bus_rabbitmq::RabbitMqBus::connect_in_background(
        &settings.rabbitmq,
        url,
        settings.recovery.outage_tolerance,
    )?;
    Ok(Arc::new(MeteredBus::new(bus)))
}

/// No integrations: for a function that never reads one.
pub fn no_directory() -> Arc<dyn IntegrationDirectory> {
    Arc::new(FileDirectory::from_integrations([]))
}

/// Work an invocation does besides its own: waiting for deliveries, sweeping.
type Hook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

fn hook<F, Fut>(f: F) -> Hook
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move || Box::pin(f()))
}

/// A function over its core.
#[derive(Clone)]
pub struct Functions {
    core: Core,
    /// What an invocation waits for before it answers, besides its syncs
    /// (webhook deliveries): Lambda freezes the process after the answer.
    settle: Vec<Hook>,
    /// What the recovery schedule sweeps for besides dead runs (webhook
    /// deliveries whose function died).
    sweep: Vec<Hook>,
}

impl Functions {
    pub fn new(core: Core) -> Self {
        Functions {
            core,
            settle: Vec::new(),
            sweep: Vec::new(),
        }
    }

    /// Waits for `settle()` before each invocation answers.
    pub fn settle_with<F, Fut>(mut self, settle: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.settle.push(hook(settle));
        self
    }

    /// Runs `sweep()` on each recovery schedule, after the sweep for dead runs.
    pub fn sweep_with<F, Fut>(mut self, sweep: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.sweep.push(hook(sweep));
        self
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// One invocation: an Amazon MQ batch of `consumes` events, or (for
    /// functions with a `timer`) an EventBridge schedule. Syncs it starts run
    /// to their end, or to the invocation's deadline and are handed on, before
    /// the invocation answers: Lambda freezes the process after.
    pub async fn handle(
        &self,
        event: Value,
        consumes: &[EventType],
        timer: Option<Timer>,
    ) -> Result<Value, FunctionError> {
        let core = &self.core;
        if let Some(timer) = timer
            && schedule::is_schedule(&event)
        {
            let settings = &core.settings;
            let message = match timer {
                Timer::CheckDue => timers::check_due(&core.events),
                Timer::CheckExpiring => timers::check_expiring(
                    &core.events,
                    settings.token_refresh.expiration_threshold,
                ),
            };
            core.bus
                .publish(&[message])
                .await
                .map_err(|e| FunctionError::Transient(Box::new(e)))?;
            if timer != Timer::CheckDue || !settings.recovery.enabled {
                self.settled().await;
                return Ok(serde_json::json!({"published": timer.event_type()}));
            }
            // The sync schedule also sweeps for runs whose function died
            // (timeout, crash) and resumes them here, to their end.
            let recovered = core
                .engine
                .recover()
                .await
                .map_err(|e| FunctionError::Transient(Box::new(e)))?;
            for sweep in &self.sweep {
                sweep().await;
            }
            core.engine.runner().idle().await;
            self.settled().await;
            return Ok(serde_json::json!({
                "published": timer.event_type(),
                "resumed": recovered.resumed,
                "outboxEvents": recovered.outbox_events,
            }));
        }
        let report = mq::handle_batch(&core.dispatcher, event, consumes).await;
        core.engine.runner().idle().await;
        self.settled().await;
        Ok(serde_json::to_value(report?).expect("a report serialises"))
    }

    async fn settled(&self) {
        for settle in &self.settle {
            settle().await;
        }
    }
}

/// Runs a trigger function: the runtime loop over [`Functions::handle`].
/// Each invocation's deadline is handed to the runs it starts, which stop
/// and hand their task on before it (`sync_limits.deadline_margin`).
pub async fn run(
    functions: Functions,
    consumes: &'static [EventType],
    timer: Option<Timer>,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| {
            let functions = functions.clone();
            let deadline = deadline_of(event.context.deadline);
            async move {
                functions.core.engine.runner().set_deadline(Some(deadline));
                functions.handle(event.payload, consumes, timer).await
            }
        },
    ))
    .await
}

/// The invocation's deadline (milliseconds since the epoch, as the Runtime
/// API gives it) on this process's clock.
fn deadline_of(deadline_ms: u64) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    tokio::time::Instant::now()
        + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
