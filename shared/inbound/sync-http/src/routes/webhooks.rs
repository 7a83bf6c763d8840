//! Webhooks: register, read, change, remove, and list per integration.

use axum::{Json, extract::State, http::StatusCode};

use sync_core::webhooks::{CreateWebhook, UpdateWebhook, WebhookView};

use crate::{
    ApiError, AppState, TenantContext,
    error::ErrorBody,
    extract::{RawPath, check_identifier, parse_uuid},
    json::ValidJson,
};

#[utoipa::path(
    post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created", body = WebhookView),
        (status = 400, description = "Invalid URL, events or secret", body = ErrorBody),
    ),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    caller: TenantContext,
    ValidJson(body): ValidJson<CreateWebhook>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    check_identifier("integrationId", &body.integration_id)?;
    let view = state.webhooks.create(caller.tenant_id, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(
    get, path = "/api/v1/webhooks/{webhookId}", tag = "webhooks",
    params(("webhookId" = Uuid, Path, description = "Webhook id")),
    responses((status = 200, description = "OK", body = WebhookView), (status = 400, description = "Invalid request", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn get_webhook(
    State(state): State<AppState>,
    caller: TenantContext,
    RawPath(id): RawPath,
) -> Result<Json<WebhookView>, ApiError> {
    let id = parse_uuid("webhookId", &id)?;
    Ok(Json(state.webhooks.get(caller.tenant_id, id).await?))
}

#[utoipa::path(
    put, path = "/api/v1/webhooks/{webhookId}", tag = "webhooks",
    params(("webhookId" = Uuid, Path, description = "Webhook id")),
    request_body = UpdateWebhook,
    responses((status = 200, description = "OK", body = WebhookView), (status = 400, description = "Invalid request", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn update_webhook(
    State(state): State<AppState>,
    caller: TenantContext,
    RawPath(id): RawPath,
    ValidJson(body): ValidJson<UpdateWebhook>,
) -> Result<Json<WebhookView>, ApiError> {
    let id = parse_uuid("webhookId", &id)?;
    Ok(Json(
        state.webhooks.update(caller.tenant_id, id, body).await?,
    ))
}

#[utoipa::path(
    delete, path = "/api/v1/webhooks/{webhookId}", tag = "webhooks",
    params(("webhookId" = Uuid, Path, description = "Webhook id")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "Invalid request", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn delete_webhook(
    State(state): State<AppState>,
    caller: TenantContext,
    RawPath(id): RawPath,
) -> Result<StatusCode, ApiError> {
    let id = parse_uuid("webhookId", &id)?;
    state.webhooks.delete(caller.tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/api/v1/integrations/{integrationId}/webhooks", tag = "webhooks",
    params(("integrationId" = String, Path, description = "Integration id", pattern = "^[A-Za-z0-9._:-]{1,200}$", min_length = 1, max_length = 200)),
    responses((status = 200, description = "OK", body = Vec<WebhookView>), (status = 400, description = "Invalid request", body = ErrorBody)),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn list_integration_webhooks(
    State(state): State<AppState>,
    caller: TenantContext,
    RawPath(integration_id): RawPath,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    check_identifier("integrationId", &integration_id)?;
    Ok(Json(
        state
            .webhooks
            .list_for_integration(caller.tenant_id, &integration_id)
            .await?,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeliveryListParams {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub continuation: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/webhooks/{webhookId}/deliveries", tag = "webhooks",
    params(("webhookId" = Uuid, Path, description = "Webhook id"), DeliveryListParams),
    responses(
        (status = 200, description = "Deliveries, newest first: status, attempts, last response code", body = crate::pagination::Paged<sync_core::domain::webhook::WebhookDelivery>),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
    ),
    security(("bearer" = [], "tenant" = []))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: TenantContext,
    RawPath(id): RawPath,
    crate::extract::ValidQuery(params): crate::extract::ValidQuery<DeliveryListParams>,
) -> Result<Json<crate::pagination::Paged<sync_core::domain::webhook::WebhookDelivery>>, ApiError> {
    let id = parse_uuid("webhookId", &id)?;
    let limit = crate::pagination::page_limit(params.limit)?;
    let continuation = crate::pagination::page_continuation(&params.continuation)?;
    let page = state
        .webhooks
        .deliveries(caller.tenant_id, id, limit, continuation)
        .await?;
    Ok(Json(crate::pagination::Paged {
        items: page.items,
        continuation: page.continuation,
    }))
}
