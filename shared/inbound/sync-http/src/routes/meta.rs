//! The service describing itself: its OpenAPI document and its metrics.

use axum::{extract::State, http::header, response::IntoResponse};

use crate::{AppState, openapi};

/// The OpenAPI document (YAML), generated from the code.
pub async fn openapi_yaml() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/yaml")],
        openapi::yaml(),
    )
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
