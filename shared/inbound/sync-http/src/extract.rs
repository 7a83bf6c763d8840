//! Query-string and path extractors whose errors name the offending parameter
//! and follow the API's error shape (axum's own answer in plain text).

use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::ApiError;

/// Query parameters, deserialised with the failing parameter named.
pub struct ValidQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ValidQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." {
                    ApiError::validation(format!("invalid query: {inner}"))
                } else {
                    ApiError::validation(format!("{path}: {inner}"))
                }
            })
    }
}

/// One path segment, still raw; handlers parse it with [`parse_uuid`] or
/// [`check_identifier`] so the error names the parameter.
pub struct RawPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RawPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(segment)| RawPath(segment))
            .map_err(|_| ApiError::validation("the path parameter is not valid"))
    }
}

pub fn parse_uuid(field: &str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::validation(format!("{field}: must be a UUID")))
}

const MAX_ID_LEN: usize = 200;

/// Integration ids and entity types: 1 to 200 of letters, digits, `-_.:`.
pub fn check_identifier(field: &str, value: &str) -> Result<(), ApiError> {
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
