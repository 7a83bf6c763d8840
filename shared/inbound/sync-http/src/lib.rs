//! The HTTP API: one axum `Router` over the core (JWT + `X-Tenant-ID` on every
//! `/api` route, typed errors, request ids, Prometheus metrics, the OpenAPI
//! document generated from the handlers), served by the container on port 3052
//! and by the `http-api` function under lambda_http.

mod auth;
mod error;
mod extract;
mod json;
pub mod metrics;
pub mod openapi;
mod pagination;
mod routes;
mod state;

use std::time::Duration;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::HeaderName,
    routing::{get, post},
};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

pub use auth::TenantContext;
pub use error::ApiError;
pub use state::{AppState, HealthCheck};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

pub fn router(state: AppState) -> Router {
    let body_limit = state.body_limit_bytes;
    let api = Router::new()
        .route("/sync/trigger", post(routes::tasks::trigger))
        .route("/sync/tasks", get(routes::tasks::list_tasks))
        .route("/sync/tasks/{task_id}", get(routes::tasks::get_task))
        .route(
            "/sync/tasks/{task_id}/cancel",
            post(routes::tasks::cancel_task),
        )
        .route(
            "/sync/tasks/{task_id}/executions",
            get(routes::tasks::list_executions),
        )
        .route("/sync/conflicts", get(routes::conflicts::list_conflicts))
        .route(
            "/sync/conflicts/{conflict_id}",
            get(routes::conflicts::get_conflict),
        )
        .route(
            "/sync/conflicts/{conflict_id}/resolve",
            post(routes::conflicts::resolve_conflict),
        )
        .route("/webhooks", post(routes::webhooks::create_webhook))
        .route(
            "/webhooks/{webhook_id}/deliveries",
            get(routes::webhooks::list_deliveries),
        )
        .route(
            "/webhooks/{webhook_id}",
            get(routes::webhooks::get_webhook)
                .put(routes::webhooks::update_webhook)
                .delete(routes::webhooks::delete_webhook),
        )
        .route(
            "/integrations/{integration_id}/webhooks",
            get(routes::webhooks::list_integration_webhooks),
        );
    Router::new()
        .route("/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready))
        .route("/metrics", get(routes::meta::metrics))
        .route("/openapi.yaml", get(routes::meta::openapi_yaml))
        .nest("/api/v1", api)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .route_layer(axum::middleware::from_fn(metrics::track_requests))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let header = |name: &HeaderName| {
                    request
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_owned()
                };
                let request_id = header(&REQUEST_ID);
                // A caller's correlation id, else the request's own id.
                let correlation_id = match header(&CORRELATION_ID) {
                    id if id == "-" => request_id.clone(),
                    id => id,
                };
                // Path only: query strings may carry things that must not be logged.
                tracing::info_span!(
                    "http",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = %request_id,
                    correlation_id = %correlation_id,
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// How long `/ready` waits for a dependency before calling it down.
pub(crate) const READINESS_TIMEOUT: Duration = Duration::from_secs(2);
