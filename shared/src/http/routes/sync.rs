//! Sync tasks: trigger one, read one.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    domain::{Direction, SyncTask},
    engine::TriggerRequest,
    http::{ApiError, AppState, TenantContext, json::ValidJson},
};

const MAX_ID_LEN: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerSyncBody {
    pub integration_id: String,
    pub direction: Direction,
    #[serde(default)]
    pub entity_type: Option<String>,
    #[serde(default)]
    pub filters: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerSyncResponse {
    pub task_id: Uuid,
    pub status: crate::domain::TaskStatus,
    pub message: String,
}

fn check_identifier(field: &str, value: &str) -> Result<(), ApiError> {
    let valid = !value.trim().is_empty()
        && value.len() <= MAX_ID_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if valid {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "{field}: must be 1 to {MAX_ID_LEN} characters of letters, digits, '-', '_', '.', ':'"
        )))
    }
}

pub async fn trigger(
    State(state): State<AppState>,
    caller: TenantContext,
    ValidJson(body): ValidJson<TriggerSyncBody>,
) -> Result<(StatusCode, Json<TriggerSyncResponse>), ApiError> {
    check_identifier("integrationId", &body.integration_id)?;
    if let Some(entity) = &body.entity_type {
        check_identifier("entityType", entity)?;
    }
    let task = state
        .engine
        .trigger(
            caller.tenant_id,
            TriggerRequest {
                integration_id: body.integration_id,
                direction: body.direction,
                entity_type: body.entity_type,
                filters: body.filters.map(serde_json::Value::Object),
                triggered_by: Some(caller.user_id),
            },
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TriggerSyncResponse {
            task_id: task.task_id,
            status: task.status,
            message: "sync task created".into(),
        }),
    ))
}

pub async fn get_task(
    State(state): State<AppState>,
    caller: TenantContext,
    Path(task_id): Path<String>,
) -> Result<Json<SyncTask>, ApiError> {
    let task_id =
        Uuid::parse_str(&task_id).map_err(|_| ApiError::validation("taskId: must be a UUID"))?;
    Ok(Json(
        state.engine.get_task(caller.tenant_id, task_id).await?,
    ))
}
