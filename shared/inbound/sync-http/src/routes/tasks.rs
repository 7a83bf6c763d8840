//! Sync tasks: trigger, read, list, cancel, and a task's executions.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use sync_core::{
    domain::{Direction, SyncExecution, SyncTask, TaskStatus},
    engine::{TriggerRequest, queries::TaskFilter},
};

use crate::{
    ApiError, AppState, TenantContext,
    error::ErrorBody,
    extract::{RawPath, ValidQuery, check_identifier, parse_uuid},
    json::ValidJson,
    pagination::{Paged, page_continuation, page_limit},
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerSyncBody {
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,200}$", min_length = 1, max_length = 200)]
    pub integration_id: String,
    pub direction: Direction,
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,200}$", min_length = 1, max_length = 200)]
    pub entity_type: Option<String>,
    /// Provider-specific filters, passed to the provider as given.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filters: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerSyncResponse {
    pub task_id: Uuid,
    pub status: TaskStatus,
    pub message: String,
}

#[utoipa::path(
    post, path = "/api/v1/sync/trigger", tag = "sync",
    request_body = TriggerSyncBody,
    responses(
        (status = 202, description = "Task created; it runs in the background", body = TriggerSyncResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "Unknown integration", body = ErrorBody),
        (status = 422, description = "The integration cannot run this sync", body = ErrorBody),
        (status = 429, description = "A limit is reached (concurrency or interval)", body = ErrorBody),
    ),
    security(("bearer" = [], "tenant" = []))
)]
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

#[utoipa::path(
    get, path = "/api/v1/sync/tasks/{taskId}", tag = "sync",
    params(("taskId" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "OK", body = SyncTask),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "No such task for this tenant", body = ErrorBody),
    ),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn get_task(
    State(state): State<AppState>,
    caller: TenantContext,
    RawPath(task_id): RawPath,
) -> Result<Json<SyncTask>, ApiError> {
    let task_id = parse_uuid("taskId", &task_id)?;
    Ok(Json(
        state
            .engine
            .get_task(caller.tenant_id, task_id)
            .await?
            .for_api(),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TaskListParams {
    pub status: Option<TaskStatus>,
    #[param(pattern = "^[A-Za-z0-9._:-]{1,200}$", min_length = 1, max_length = 200)]
    pub integration_id: Option<String>,
    pub direction: Option<Direction>,
    /// Created at or after (ISO 8601).
    pub created_from: Option<DateTime<Utc>>,
    /// Created at or before (ISO 8601).
    pub created_to: Option<DateTime<Utc>>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `continuation` of the previous page.
    pub continuation: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/sync/tasks", tag = "sync",
    params(TaskListParams),
    responses(
        (status = 200, description = "Newest first", body = Paged<SyncTask>),
        (status = 400, description = "Invalid request", body = ErrorBody),
    ),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn list_tasks(
    State(state): State<AppState>,
    caller: TenantContext,
    ValidQuery(params): ValidQuery<TaskListParams>,
) -> Result<Json<Paged<SyncTask>>, ApiError> {
    if let Some(id) = &params.integration_id {
        check_identifier("integrationId", id)?;
    }
    if let (Some(from), Some(to)) = (params.created_from, params.created_to)
        && from > to
    {
        return Err(ApiError::validation(
            "createdFrom: must not be after createdTo",
        ));
    }
    let limit = page_limit(params.limit)?;
    let continuation = page_continuation(&params.continuation)?;
    let filter = TaskFilter {
        status: params.status,
        integration_id: params.integration_id.clone(),
        direction: params.direction,
        created_from: params.created_from,
        created_to: params.created_to,
    };
    let page = state
        .engine
        .list_tasks(caller.tenant_id, filter, limit, continuation)
        .await?;
    Ok(Json(Paged {
        items: page.items.into_iter().map(SyncTask::for_api).collect(),
        continuation: page.continuation,
    }))
}

#[utoipa::path(
    post, path = "/api/v1/sync/tasks/{taskId}/cancel", tag = "sync",
    params(("taskId" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "The pending task is cancelled", body = SyncTask),
        (status = 202, description = "The running task stops at its next page", body = SyncTask),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
        (status = 409, description = "The task already ended", body = ErrorBody),
    ),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn cancel_task(
    State(state): State<AppState>,
    caller: TenantContext,
    RawPath(task_id): RawPath,
) -> Result<(StatusCode, Json<SyncTask>), ApiError> {
    let task_id = parse_uuid("taskId", &task_id)?;
    let task = state
        .engine
        .cancel_task(caller.tenant_id, task_id, &caller.user_id)
        .await?;
    let status = if task.status == TaskStatus::Cancelled {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(task.for_api())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ExecutionListParams {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub continuation: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/sync/tasks/{taskId}/executions", tag = "sync",
    params(("taskId" = Uuid, Path, description = "Task id"), ExecutionListParams),
    responses(
        (status = 200, description = "The task's executions, newest first", body = Paged<SyncExecution>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
    ),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn list_executions(
    State(state): State<AppState>,
    caller: TenantContext,
    RawPath(task_id): RawPath,
    ValidQuery(params): ValidQuery<ExecutionListParams>,
) -> Result<Json<Paged<SyncExecution>>, ApiError> {
    let task_id = parse_uuid("taskId", &task_id)?;
    let limit = page_limit(params.limit)?;
    let continuation = page_continuation(&params.continuation)?;
    let page = state
        .engine
        .list_executions(caller.tenant_id, task_id, limit, continuation)
        .await?;
    Ok(Json(Paged {
        items: page.items,
        continuation: page.continuation,
    }))
}
