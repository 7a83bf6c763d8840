//! The service describing itself: its OpenAPI document and its metrics.

use axum::{extract::State, http::header, response::IntoResponse};

use crate::{AppState, openapi};

/// The OpenAPI document (YAML), generated from the code.
#[utoipa::path(get, path = "/openapi.yaml", tag = "meta", responses(
    (status = 200, description = "This document", content_type = "application/yaml", body = String),
))]
pub async fn openapi_yaml() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/yaml")],
        openapi::yaml(),
    )
}

/// Prometheus text exposition: request counts and latencies by route, runs
/// started and ended, records and events published.
#[utoipa::path(get, path = "/metrics", tag = "meta", responses(
    (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
