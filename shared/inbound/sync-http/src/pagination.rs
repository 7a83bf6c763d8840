//! Paging parameters and the page envelope every list endpoint shares.

use serde::Serialize;

use super::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
const MAX_CONTINUATION_LEN: usize = 4096;

/// `{ items, continuation }`: pass `continuation` back to get the next page;
/// it is absent on the last page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
}

/// `limit` (default 50, 1 to 200).
pub fn page_limit(limit: Option<u32>) -> Result<usize, ApiError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n as usize),
        _ => Err(ApiError::validation(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

/// `continuation`, as a previous page returned it.
pub fn page_continuation(continuation: &Option<String>) -> Result<Option<&str>, ApiError> {
    match continuation.as_deref() {
        Some(c) if c.is_empty() || c.len() > MAX_CONTINUATION_LEN => Err(ApiError::validation(
            "continuation: not a continuation token this API issued",
        )),
        other => Ok(other),
    }
}
