//! The HTTP API: one axum `Router`, served by the local runner (and, later, by
//! the `http-api` function under lambda_http).

mod auth;
mod error;
mod json;
mod routes;
mod state;

use std::time::Duration;

use axum::{Router, extract::DefaultBodyLimit, http::HeaderName};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

pub use auth::TenantContext;
pub use error::ApiError;
pub use state::{AppState, HealthCheck};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let body_limit = state.body_limit_bytes;
    let api = Router::new()
        .route("/sync/trigger", axum::routing::post(routes::sync::trigger))
        .route(
            "/sync/tasks/{task_id}",
            axum::routing::get(routes::sync::get_task),
        );
    Router::new()
        .route("/health", axum::routing::get(routes::health::health))
        .route("/ready", axum::routing::get(routes::health::ready))
        .nest("/api/v1", api)
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // Path only: query strings may carry things that must not be logged.
                tracing::info_span!(
                    "http",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = %request_id,
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// How long `/ready` waits for a dependency before calling it down.
pub(crate) const READINESS_TIMEOUT: Duration = Duration::from_secs(2);
