//! Conflicts found by bidirectional syncs: list, read and resolve.

use axum::{Json, extract::State};
use serde::Deserialize;

use sync_core::{domain::SyncConflict, engine::queries::ConflictFilter};

use crate::{
    ApiError, AppState, TenantContext,
    error::ErrorBody,
    extract::{RawPath, ValidQuery, check_identifier, parse_uuid},
    pagination::{Paged, page_continuation, page_limit},
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ConflictListParams {
    pub resolved: Option<bool>,
    #[param(pattern = "^[A-Za-z0-9._:-]{1,200}$", min_length = 1, max_length = 200)]
    pub integration_id: Option<String>,
    #[param(pattern = "^[A-Za-z0-9._:-]{1,200}$", min_length = 1, max_length = 200)]
    pub entity_type: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub continuation: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/sync/conflicts", tag = "conflicts",
    params(ConflictListParams),
    responses(
        (status = 200, description = "Newest first", body = Paged<SyncConflict>),
        (status = 400, description = "Invalid request", body = ErrorBody),
    ),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn list_conflicts(
    State(state): State<AppState>,
    caller: TenantContext,
    ValidQuery(params): ValidQuery<ConflictListParams>,
) -> Result<Json<Paged<SyncConflict>>, ApiError> {
    if let Some(id) = &params.integration_id {
        check_identifier("integrationId", id)?;
    }
    if let Some(entity) = &params.entity_type {
        check_identifier("entityType", entity)?;
    }
    let limit = page_limit(params.limit)?;
    let continuation = page_continuation(&params.continuation)?;
    let filter = ConflictFilter {
        resolved: params.resolved,
        integration_id: params.integration_id.clone(),
        entity_type: params.entity_type.clone(),
    };
    let page = state
        .engine
        .list_conflicts(caller.tenant_id, filter, limit, continuation)
        .await?;
    Ok(Json(Paged {
        items: page.items,
        continuation: page.continuation,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/sync/conflicts/{conflictId}", tag = "conflicts",
    params(("conflictId" = Uuid, Path, description = "Conflict id")),
    responses(
        (status = 200, description = "OK", body = SyncConflict),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
    ),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn get_conflict(
    State(state): State<AppState>,
    caller: TenantContext,
    RawPath(conflict_id): RawPath,
) -> Result<Json<SyncConflict>, ApiError> {
    let conflict_id = parse_uuid("conflictId", &conflict_id)?;
    Ok(Json(
        state
            .engine
            .get_conflict(caller.tenant_id, conflict_id)
            .await?,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolveConflictBody {
    pub resolution: sync_core::domain::ConflictStrategy,
    /// Chosen values of the conflicting fields: required for `manual`, optional
    /// for `merge` (fields not given take the external system's value).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
}

#[utoipa::path(
    post, path = "/api/v1/sync/conflicts/{conflictId}/resolve", tag = "conflicts",
    params(("conflictId" = Uuid, Path, description = "Conflict id")),
    request_body = ResolveConflictBody,
    responses(
        (status = 200, description = "Resolved and applied to both sides (repeating the same resolution is harmless)", body = SyncConflict),
        (status = 400, description = "Invalid request (e.g. manual without values)", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
        (status = 409, description = "Already resolved differently, or the record changed since", body = ErrorBody),
        (status = 422, description = "The external system cannot take the resolution (the integration is gone or invalid, or the provider refused the write)", body = ErrorBody),
    ),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn resolve_conflict(
    State(state): State<AppState>,
    caller: TenantContext,
    RawPath(conflict_id): RawPath,
    crate::json::ValidJson(body): crate::json::ValidJson<ResolveConflictBody>,
) -> Result<Json<SyncConflict>, ApiError> {
    let conflict_id = parse_uuid("conflictId", &conflict_id)?;
    let request = sync_core::engine::resolve::ResolveRequest {
        resolution: body.resolution,
        values: body.values,
    };
    Ok(Json(
        state
            .engine
            .resolve_conflict(caller.tenant_id, conflict_id, request, &caller.user_id)
            .await?,
    ))
}
