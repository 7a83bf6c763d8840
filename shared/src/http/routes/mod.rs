//! Route handlers, one module per resource.

pub mod health;
pub mod sync;

use super::ApiError;

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}
