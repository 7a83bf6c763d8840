//! Liveness and readiness.

use axum::{Json, extract::State, http::StatusCode};
use futures::future::join_all;
use serde_json::{Value, json};

use crate::{AppState, READINESS_TIMEOUT};

/// The process is up and serving.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "Alive")))]
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "service": sync_core::domain::events::SERVICE_NAME}))
}

/// Every dependency answers: 200 with each check, or 503 naming the ones down.
#[utoipa::path(get, path = "/ready", tag = "health", responses(
    (status = 200, description = "Store and event bus answer"),
    (status = 503, description = "A dependency is down"),
))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let results = join_all(state.health_checks.iter().map(|check| async move {
        let outcome = tokio::time::timeout(READINESS_TIMEOUT, check.check())
            .await
            .unwrap_or_else(|_| Err("timed out".to_owned()));
        (check.name(), outcome)
    }))
    .await;
    let all_up = results.iter().all(|(_, r)| r.is_ok());
    let checks: serde_json::Map<String, Value> = results
        .into_iter()
        .map(|(name, outcome)| {
            let value = match outcome {
                Ok(()) => json!({"status": "up"}),
                Err(reason) => json!({"status": "down", "reason": reason}),
            };
            (name.to_owned(), value)
        })
        .collect();
    let status = if all_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": if all_up { "ready" } else { "not_ready" }, "checks": checks});
    (status, Json(body))
}
