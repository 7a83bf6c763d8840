//! `ValidJson<T>`: a JSON body extractor whose errors name the offending field
//! (`direction: unknown variant …`) and follow the API's error shape.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{StatusCode, header::CONTENT_TYPE},
};
use serde::de::DeserializeOwned;

use super::ApiError;

pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let mime = v.split(';').next().unwrap_or("").trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::validation(format!(
                    "cannot read the request body: {}",
                    rejection.body_text()
                ))
            }
        })?;
        let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(deserializer)
            .map(ValidJson)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let message = if inner.is_syntax() || inner.is_eof() {
                    format!("the body is not valid JSON: {inner}")
                } else if path == "." {
                    format!("invalid body: {inner}")
                } else {
                    format!("{path}: {inner}")
                };
                ApiError::validation(message)
            })
    }
}
