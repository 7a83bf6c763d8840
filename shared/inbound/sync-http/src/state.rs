//! What handlers share.

use std::sync::Arc;

use async_trait::async_trait;

use metrics_exporter_prometheus::PrometheusHandle;

use sync_core::{
    assembly::Core,
    auth::TokenVerifier,
    engine::SyncEngine,
    ports::{DocumentStore, EventBus},
    webhooks::WebhookService,
};

/// A dependency `/ready` checks (store, event bus).
#[async_trait]
pub trait HealthCheck: Send + Sync {
    fn name(&self) -> &'static str;
    async fn check(&self) -> Result<(), String>;
}

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<SyncEngine>,
    pub webhooks: WebhookService,
    pub metrics: PrometheusHandle,
    pub verifier: TokenVerifier,
    pub health_checks: Arc<Vec<Arc<dyn HealthCheck>>>,
    pub body_limit_bytes: usize,
}

impl AppState {
    /// The state the router serves `core` with: its store and bus checked by
    /// `/ready`, tokens verified with the platform's secret.
    pub fn new(core: &Core, webhooks: WebhookService) -> Self {
        let health_checks: Vec<Arc<dyn HealthCheck>> = vec![
            Arc::new(StoreHealth(core.store.clone())),
            Arc::new(BusHealth(core.bus.clone())),
        ];
        AppState {
            engine: core.engine.clone(),
            webhooks,
            metrics: crate::metrics::recorder(),
            verifier: TokenVerifier::new(&core.settings.jwt),
            health_checks: Arc::new(health_checks),
            body_limit_bytes: core.settings.server.body_limit_bytes,
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
