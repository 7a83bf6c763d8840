//! Route handlers, one module per resource.

pub mod conflicts;
pub mod health;
pub mod meta;
pub mod tasks;
pub mod webhooks;

use super::ApiError;

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
