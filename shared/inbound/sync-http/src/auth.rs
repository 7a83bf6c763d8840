//! Caller identity: `Authorization: Bearer <JWT>` plus `X-Tenant-ID`.
//!
//! 401 when the token or the tenant header is missing, or the token is invalid or
//! expired (the message names the claim at fault); 403 when the tenant header
//! is not a UUID or names a tenant the token is not scoped to.

use axum::{extract::FromRequestParts, http::request::Parts};
use uuid::Uuid;

use super::{ApiError, AppState};
use sync_core::{auth::TokenError, domain::TenantId};

pub const TENANT_HEADER: &str = "x-tenant-id";

/// The authenticated tenant and user of a request.
#[derive(Debug, Clone)]
pub struct TenantContext {
    pub tenant_id: TenantId,
    pub user_id: String,
}

impl FromRequestParts<AppState> for TenantContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        let tenant_header = parts
            .headers
            .get(TENANT_HEADER)
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "missing_tenant",
                    "the X-Tenant-ID header is required".into(),
                )
            })?
            .to_str()
            .ok()
            .and_then(|v| Uuid::parse_str(v.trim()).ok())
            .ok_or_else(|| {
                ApiError::Forbidden("invalid_tenant", "X-Tenant-ID must be a UUID".into())
            })?;
        let caller = state.verifier.verify(token).map_err(|e| match e {
            TokenError::Expired => ApiError::Unauthorized("token_expired", e.to_string()),
            _ => ApiError::Unauthorized("invalid_token", e.to_string()),
        })?;
        if caller.tenant_id != tenant_header {
            return Err(ApiError::Forbidden(
                "tenant_mismatch",
                "the token is not valid for the tenant in X-Tenant-ID".into(),
            ));
        }
        Ok(TenantContext {
            tenant_id: tenant_header,
            user_id: caller.user_id,
        })
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let missing = || ApiError::Unauthorized("unauthorized", "a Bearer token is required".into());
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}
