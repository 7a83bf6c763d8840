//! What handlers share.

use std::sync::Arc;

use async_trait::async_trait;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::{auth::TokenVerifier, engine::SyncEngine, webhooks::WebhookService};

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
