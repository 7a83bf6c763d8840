//! What the function binaries share: start-up (config, logs, the core app),
//! Amazon MQ for RabbitMQ batches, EventBridge schedules, and errors that the
//! Lambda runtime reports with a clean type. The core library knows nothing
//! of Lambda; this crate adapts its triggers to it.

mod error;
mod mq;
mod schedule;

use std::sync::Arc;

use serde_json::Value;
use sync_core::{
    app::{App, BrokerConnect},
    config,
    domain::events::EventType,
    telemetry,
    triggers::timers,
};

pub use error::FunctionError;
pub use schedule::Timer;

const EMBEDDED_CONFIG: &str = include_str!("../../config/default.yaml");

/// The app a function serves, built once per cold start.
#[derive(Clone)]
pub struct Functions {
    app: Arc<App>,
}

impl Functions {
    /// Configuration from `CONFIG_FILE` or the embedded default (with the
    /// environment's `${VAR}`s and `INTEGRATION_SYNC__*` overrides), JSON logs.
    pub async fn start() -> anyhow::Result<Self> {
        let settings = match std::env::var("CONFIG_FILE") {
            Ok(path) => config::load_from_file(path)?,
            Err(_) => config::load_from_str(EMBEDDED_CONFIG)?,
        };
        telemetry::init(&settings.log);
        // The broker handshake overlaps the rest of the cold start.
        let app = App::build_with(settings, BrokerConnect::InBackground).await?;
        Ok(Functions { app: Arc::new(app) })
    }

    /// Functions over an app built elsewhere (tests, fuzzing).
    pub fn from_app(app: App) -> Self {
        Functions { app: Arc::new(app) }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// One invocation: an Amazon MQ batch of `consumes` events, or (for
    /// functions with a `timer`) an EventBridge schedule. Syncs it starts run to
    /// their end before the invocation answers: Lambda freezes the process after.
    pub async fn handle(
        &self,
        event: Value,
        consumes: &[EventType],
        timer: Option<Timer>,
    ) -> Result<Value, FunctionError> {
        if let Some(timer) = timer
            && schedule::is_schedule(&event)
        {
            let settings = &self.app.settings;
            let message = match timer {
                Timer::CheckDue => timers::check_due(&self.app.events),
                Timer::CheckExpiring => timers::check_expiring(
                    &self.app.events,
                    std::time::Duration::from_millis(
                        settings.token_refresh.expiration_threshold_ms,
                    ),
                ),
            };
            self.app
                .bus
                .publish(&[message])
                .await
                .map_err(|e| FunctionError::Transient(e.to_string()))?;
            if timer != Timer::CheckDue || !settings.recovery.enabled {
                return Ok(serde_json::json!({"published": timer.event_type()}));
            }
            // The sync schedule also sweeps for runs whose function died
            // (timeout, crash) and resumes them here, to their end.
            let recovered = self
                .app
                .engine
                .recover()
                .await
                .map_err(|e| FunctionError::Transient(e.to_string()))?;
            self.app.engine.runner().idle().await;
            return Ok(serde_json::json!({
                "published": timer.event_type(),
                "resumed": recovered.resumed,
                "outboxEvents": recovered.outbox_events,
            }));
        }
        let report = mq::handle_batch(&self.app.dispatcher, event, consumes).await;
        self.app.engine.runner().idle().await;
        // Webhook deliveries of what this invocation published, before Lambda freezes us.
        self.app.deliveries.idle().await;
        Ok(serde_json::to_value(report?).expect("a report serialises"))
    }
}

/// Runs a trigger function: the runtime loop over [`Functions::handle`].
pub async fn run_trigger(
    consumes: &'static [EventType],
    timer: Option<Timer>,
) -> Result<(), lambda_runtime::Error> {
    let functions = Functions::start()
        .await
        .map_err(|e| lambda_runtime::Error::from(e.to_string()))?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| {
            let functions = functions.clone();
            async move { functions.handle(event.payload, consumes, timer).await }
        },
    ))
    .await
}
