//! One error type for every handler, rendered as
//! `{"error":{"code":"…","message":"…"}}` with a stable code. Server-side
//! failures are logged with their cause and answered without details.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use sync_core::{
    engine::{CancelError, GetTaskError, TriggerError, limits::LimitRejection, queries::ListError},
    ports::{StoreError, Transience},
    webhooks::WebhookError,
};

/// `{"error":{"code","message"}}`, the shape of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_error`, `not_found`.
    pub code: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{1}")]
    Unauthorized(&'static str, String),
    #[error("{1}")]
    Forbidden(&'static str, String),
    #[error("{1}")]
    Validation(&'static str, String),
    #[error("{0}")]
    NotFound(String),
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{1}")]
    Unprocessable(&'static str, String),
    #[error("the request body is larger than this service accepts")]
    PayloadTooLarge,
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    #[error("{message}")]
    TooManyRequests {
        code: &'static str,
        message: String,
        retry_after: Option<std::time::Duration>,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::Validation("validation_error", message.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(code, _) => (StatusCode::UNAUTHORIZED, code),
            ApiError::Forbidden(code, _) => (StatusCode::FORBIDDEN, code),
            ApiError::Validation(code, _) => (StatusCode::BAD_REQUEST, code),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(code, _) => (StatusCode::CONFLICT, code),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Unprocessable(code, _) => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::TooManyRequests { code, .. } => (StatusCode::TOO_MANY_REQUESTS, code),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "request failed");
                "an internal error occurred".to_owned()
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "dependency unavailable");
                "a dependency is unavailable; retry later".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (
            status,
            Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response();
        if let ApiError::TooManyRequests {
            retry_after: Some(after),
            ..
        } = &self
        {
            // Whole seconds, rounded up, as Retry-After requires.
            let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.max(1).into());
        }
        response
    }
}

impl From<TriggerError> for ApiError {
    fn from(e: TriggerError) -> Self {
        if e.is_transient() {
            return ApiError::Unavailable(e.to_string());
        }
        match e {
            TriggerError::IntegrationNotFound(_) => ApiError::NotFound(e.to_string()),
            TriggerError::IntegrationInactive(_) => {
                ApiError::Unprocessable("integration_inactive", e.to_string())
            }
            TriggerError::IntegrationInvalid { .. } => {
                ApiError::Unprocessable("integration_invalid", e.to_string())
            }
            TriggerError::UnsupportedDirection(_) => {
                ApiError::Unprocessable("unsupported_direction", e.to_string())
            }
            TriggerError::UnknownProvider(_) => {
                ApiError::Unprocessable("unsupported_provider", e.to_string())
            }
            TriggerError::EntityNotMapped(_) | TriggerError::NoEntities(_) => {
                ApiError::Unprocessable("entity_not_mapped", e.to_string())
            }
            TriggerError::DirectoryUnavailable(_) => ApiError::Unavailable(e.to_string()),
            TriggerError::Limited(LimitRejection::TooManyConcurrent { .. }) => {
                ApiError::TooManyRequests {
                    code: "concurrency_limit",
                    message: e.to_string(),
                    retry_after: None,
                }
            }
            TriggerError::Limited(LimitRejection::TooSoon { retry_after, .. }) => {
                ApiError::TooManyRequests {
                    code: "sync_interval",
                    message: e.to_string(),
                    retry_after: Some(retry_after),
                }
            }
            TriggerError::Store(_) => ApiError::Internal(e.into()),
            TriggerError::Unexpected(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<GetTaskError> for ApiError {
    fn from(e: GetTaskError) -> Self {
        match e {
            GetTaskError::NotFound => ApiError::NotFound("task not found".into()),
            GetTaskError::Store(store) => store.into(),
        }
    }
}

impl From<ListError> for ApiError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::NotFound => ApiError::NotFound("not found".into()),
            ListError::InvalidContinuation => ApiError::validation(
                "continuation: not a continuation token this API issued for this query",
            ),
            ListError::Store(store) => store.into(),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(e: CancelError) -> Self {
        match e {
            CancelError::NotFound => ApiError::NotFound("task not found".into()),
            CancelError::AlreadyEnded(_) => ApiError::Conflict("task_ended", e.to_string()),
            CancelError::Store(store) => store.into(),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::NotFound => ApiError::NotFound("webhook not found".into()),
            WebhookError::Invalid { .. } => ApiError::validation(e.to_string()),
            WebhookError::TooMany(_) => ApiError::Conflict("too_many_webhooks", e.to_string()),
            WebhookError::Store(store) => store.into(),
        }
    }
}

impl From<sync_core::engine::resolve::ResolveError> for ApiError {
    fn from(e: sync_core::engine::resolve::ResolveError) -> Self {
        use sync_core::engine::{outbound::OutboundError, resolve::ResolveError};
        use sync_core::ports::ProviderError;
        match e {
            ResolveError::NotFound => ApiError::NotFound("conflict not found".into()),
            ResolveError::ResolvedDifferently(_) => {
                ApiError::Conflict("conflict_resolved", e.to_string())
            }
            ResolveError::Changed => ApiError::Conflict("record_changed", e.to_string()),
            ResolveError::MissingValues(_) => ApiError::validation(e.to_string()),
            ResolveError::Outbound(OutboundError::Directory(
                sync_core::ports::DirectoryError::NotFound(_),
            )) => ApiError::Unprocessable(
                "integration_gone",
                "the conflict's integration no longer exists".into(),
            ),
            ResolveError::Outbound(
                e @ OutboundError::Directory(sync_core::ports::DirectoryError::Invalid { .. }),
            ) => ApiError::Unprocessable("integration_invalid", e.to_string()),
            ResolveError::Outbound(e) if e.is_transient() => ApiError::Unavailable(e.to_string()),
            ResolveError::Outbound(
                e @ (OutboundError::Provider(ProviderError::Unexpected(_))
                | OutboundError::Store(_)
                | OutboundError::Publish(_)),
            ) => ApiError::Internal(e.into()),
            ResolveError::Outbound(e) => ApiError::Unprocessable("push_refused", e.to_string()),
        }
    }
}

/// A store failure: an outage is 503 (retry later), anything else is ours.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_transient() {
            ApiError::Unavailable(e.to_string())
        } else {
            ApiError::Internal(e.into())
        }
    }
}
