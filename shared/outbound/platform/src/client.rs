//! One HTTP client for the platform's neighbours: one way to mint the
//! service token, one way to address a route, one mapping of answers to
//! errors, bounded retries of reads.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use sync_core::{auth::TokenIssuer, domain::TenantId};

/// A neighbour: its name (for messages), where its routes are, and how long
/// one call to it may take.
#[derive(Debug, Clone)]
pub struct Neighbour {
    pub name: &'static str,
    base: reqwest::Url,
    timeout: Duration,
}

impl Neighbour {
    /// `url` plus the path its routes are mounted at (e.g. `/api/secrets`).
    pub fn new(
        name: &'static str,
        url: &str,
        mount: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut base = reqwest::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("{name} URL `{url}` is invalid: {e}"))?;
        if base.cannot_be_a_base() {
            anyhow::bail!("{name} URL `{url}` cannot be a base URL");
        }
        base.path_segments_mut()
            .expect("checked: the URL can be a base")
            .pop_if_empty()
            .extend(mount.split('/').filter(|s| !s.is_empty()));
        Ok(Neighbour {
            name,
            base,
            timeout,
        })
    }

    /// The route `segments` under the mount, each segment escaped.
    pub fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked at construction: the URL can be a base")
            .pop_if_empty()
            .extend(segments);
        url
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NeighbourError {
    #[error("{neighbour}: {what} not found")]
    NotFound {
        neighbour: &'static str,
        what: String,
    },
    /// Connection failures, timeouts, 429 and 5xx: worth retrying later.
    #[error("{neighbour} is unavailable: {detail}")]
    Unavailable {
        neighbour: &'static str,
        detail: String,
    },
    /// 401/403: the neighbour does not accept this service's token.
    #[error("{neighbour} refused this service's token ({status}): {detail}")]
    Refused {
        neighbour: &'static str,
        status: u16,
        detail: String,
    },
    /// An answer this service cannot use (another 4xx, or a body that is not
    /// what the neighbour's route defines); `detail` says what was wrong.
    #[error("{neighbour} answered what this service cannot use: {detail}")]
    Invalid {
        neighbour: &'static str,
        detail: String,
    },
}

impl NeighbourError {
    pub fn is_transient(&self) -> bool {
        matches!(self, NeighbourError::Unavailable { .. })
    }
}

/// Attempts of a read through a passing outage of a neighbour.
const READ_ATTEMPTS: usize = 3;

#[derive(Clone)]
pub struct PlatformClient {
    http: reqwest::Client,
    tokens: TokenIssuer,
}

/// Connecting to a neighbour takes at most this; each call's whole
/// duration is bounded by its neighbour's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl PlatformClient {
    pub fn new(tokens: TokenIssuer) -> anyhow::Result<Self> {
        let http = outgoing_http::client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        Ok(PlatformClient { http, tokens })
    }

    /// `GET` a route for `tenant`, retried through short outages.
    pub async fn get(
        &self,
        neighbour: &Neighbour,
        segments: &[&str],
        tenant: TenantId,
    ) -> Result<Value, NeighbourError> {
        self.retried(|| self.call(Method::GET, neighbour, segments, tenant, None))
            .await
    }

    /// `POST` that only reads (integration-manager's `fetch`), retried like a
    /// `GET`, answering with the body's bytes: the caller parses them into its
    /// own types (a page of records stays the provider's text, never a JSON tree).
    pub async fn post_read(
        &self,
        neighbour: &Neighbour,
        segments: &[&str],
        tenant: TenantId,
        body: &Value,
    ) -> Result<bytes::Bytes, NeighbourError> {
        self.retried(|| self.call_bytes(Method::POST, neighbour, segments, tenant, Some(body)))
            .await
    }

    /// `POST` that changes something: sent once, never repeated.
    pub async fn post_once(
        &self,
        neighbour: &Neighbour,
        segments: &[&str],
        tenant: TenantId,
        body: Option<&Value>,
    ) -> Result<Value, NeighbourError> {
        self.call(Method::POST, neighbour, segments, tenant, body)
            .await
    }

    async fn retried<T, F, Fut>(&self, call: F) -> Result<T, NeighbourError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, NeighbourError>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(2))
            .with_jitter()
            .with_max_times(READ_ATTEMPTS - 1);
        call.retry(backoff)
            .when(NeighbourError::is_transient)
            .notify(|e, wait| tracing::warn!(error = %e, ?wait, "neighbour unavailable; retrying"))
            .await
    }

    async fn call(
        &self,
        method: Method,
        neighbour: &Neighbour,
        segments: &[&str],
        tenant: TenantId,
        body: Option<&Value>,
    ) -> Result<Value, NeighbourError> {
        let bytes = self
            .call_bytes(method, neighbour, segments, tenant, body)
            .await?;
        serde_json::from_slice::<Value>(&bytes).map_err(|e| NeighbourError::Invalid {
            neighbour: neighbour.name,
            detail: format!("its answer is not JSON: {e}"),
        })
    }

    /// One call: the body of a successful answer, or the error it means.
    async fn call_bytes(
        &self,
        method: Method,
        neighbour: &Neighbour,
        segments: &[&str],
        tenant: TenantId,
        body: Option<&Value>,
    ) -> Result<bytes::Bytes, NeighbourError> {
        let unavailable = |detail: String| NeighbourError::Unavailable {
            neighbour: neighbour.name,
            detail,
        };
        let mut request = self
            .http
            .request(method, neighbour.url(segments))
            .timeout(neighbour.timeout)
            .bearer_auth(self.tokens.service_token(tenant))
            .header("X-Tenant-ID", tenant.to_string());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        if status.is_success() {
            return Ok(bytes);
        }
        let detail = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .as_ref()
            .and_then(error_message)
            .unwrap_or_else(|| format!("answered {status}"));
        Err(match status {
            StatusCode::NOT_FOUND => NeighbourError::NotFound {
                neighbour: neighbour.name,
                what: segments.join("/"),
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => NeighbourError::Refused {
                neighbour: neighbour.name,
                status: status.as_u16(),
                detail,
            },
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => unavailable(detail),
            _ => NeighbourError::Invalid {
                neighbour: neighbour.name,
                detail,
            },
        })
    }
}

/// The platform's error bodies: `{error: {code, message}}` (its routes) or
/// `{statusCode, error, message}` (fastify's own).
fn error_message(body: &Value) -> Option<String> {
    body.pointer("/error/message")
        .or_else(|| body.get("message"))
        .or_else(|| body.get("error"))
        .and_then(Value::as_str)
        .map(|m| m.chars().take(300).collect())
}

/// Checks an answer that should be a document: the platform serialises some
/// routes' documents as `{}` (their response schema is a bare `object`), so an
/// empty object is named as such, with what was missing.
pub fn expect_document(
    neighbour: &'static str,
    route: &str,
    answer: Value,
    required: &[&str],
) -> Result<Value, NeighbourError> {
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|k| answer.get(*k).is_none_or(Value::is_null))
        .collect();
    if missing.is_empty() {
        return Ok(answer);
    }
    let shape = match &answer {
        Value::Object(map) if map.is_empty() => {
            "an empty object (its route declares the response as a bare `object`, \
             which its web framework serialises as {})"
                .to_owned()
        }
        Value::Object(_) => "a document".to_owned(),
        other => format!("`{}`", kind(other)),
    };
    Err(NeighbourError::Invalid {
        neighbour,
        detail: format!("{route} answered {shape} without {}", missing.join(", ")),
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_document_is_named_with_what_it_lacks() {
        let error = expect_document(
            "integration-manager",
            "GET /api/v1/integrations/i-1",
            json!({}),
            &["id", "tenantId", "providerName"],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("integration-manager"), "{error}");
        assert!(error.contains("empty object"), "{error}");
        assert!(error.contains("providerName"), "{error}");
    }

    #[test]
    fn routes_are_mounted_and_escaped() {
        let neighbour = Neighbour::new(
            "secret-management",
            "http://s:3003/",
            "/api/secrets",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(
            neighbour.url(&["int/x", "value"]).as_str(),
            "http://s:3003/api/secrets/int%2Fx/value"
        );
    }

    #[test]
    fn error_bodies_of_both_shapes_are_read() {
        assert_eq!(
            error_message(&json!({"error": {"code": "X", "message": "bad"}})).as_deref(),
            Some("bad")
        );
        assert_eq!(
            error_message(&json!({"statusCode": 401, "error": "Unauthorized", "message": "Invalid token type"}))
                .as_deref(),
            Some("Invalid token type")
        );
    }
}
