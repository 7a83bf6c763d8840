//! The provider HTTP client.

use std::{sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use reqwest::{RequestBuilder, StatusCode, header::RETRY_AFTER};

use super::{CredentialSource, Credentials, limits::reported_limits};
use sync_core::{
    config::ProviderSettings,
    domain::{Integration, TenantId},
    ports::{ProviderError, RequestBudget},
};

/// Error bodies are kept for diagnostics up to this size.
const MAX_ERROR_BODY: usize = 512;

#[derive(Debug, Clone)]
pub struct HttpPolicy {
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub max_retry_after: Duration,
}

impl From<&ProviderSettings> for HttpPolicy {
    fn from(s: &ProviderSettings) -> Self {
        HttpPolicy {
            timeout: s.request_timeout,
            max_attempts: s.max_attempts.max(1),
            backoff_min: s.backoff_min,
            backoff_max: s.backoff_max,
            max_retry_after: s.max_retry_after,
        }
    }
}

#[derive(Clone)]
pub struct ProviderHttp {
    http: reqwest::Client,
    policy: HttpPolicy,
    budget: Arc<dyn RequestBudget>,
    credentials: Arc<dyn CredentialSource>,
}

impl ProviderHttp {
    pub fn new(
        policy: HttpPolicy,
        credentials: Arc<dyn CredentialSource>,
        budget: Arc<dyn RequestBudget>,
    ) -> anyhow::Result<Self> {
        let http = outgoing_http::client_builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .build()?;
        Ok(ProviderHttp {
            http,
            budget,
            policy,
            credentials,
        })
    }

    /// Why the tenant's requests to `provider` wait now, when they do.
    pub fn waiting(&self, tenant: TenantId, provider: &str) -> Option<String> {
        self.budget.waiting(tenant, provider)
    }

    pub async fn credentials(
        &self,
        integration: &Integration,
    ) -> Result<Credentials, ProviderError> {
        self.credentials.get(integration).await
    }

    /// Sends the request `build` makes (called again for every attempt, with
    /// the current credentials) and returns the successful status and body.
    pub async fn send<F>(
        &self,
        provider: &'static str,
        integration: &Integration,
        build: F,
    ) -> Result<(StatusCode, Bytes), ProviderError>
    where
        F: Fn(&reqwest::Client, &Credentials) -> RequestBuilder,
    {
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.backoff_min)
            .with_max_delay(self.policy.backoff_max)
            .with_max_times(self.policy.max_attempts as usize)
            .with_jitter()
            .build();
        let mut credentials = self.credentials.get(integration).await?;
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last_attempt = attempt >= self.policy.max_attempts;
            self.budget
                .acquire(integration.tenant_id, provider)
                .await
                .map_err(|e| ProviderError::Transient(format!("{provider}: {e}")))?;
            let outcome = build(&self.http, &credentials).send().await;
            let response = match outcome {
                Ok(response) => {
                    for report in reported_limits(response.headers()) {
                        self.budget
                            .report(integration.tenant_id, provider, report)
                            .await;
                    }
                    response
                }
                Err(e) if last_attempt => {
                    return Err(ProviderError::Transient(format!(
                        "{provider}: {}",
                        describe(e)
                    )));
                }
                Err(e) => {
                    tracing::warn!(provider, attempt, error = %describe(e), "provider request failed; retrying");
                    tokio::time::sleep(backoff.next().unwrap_or(self.policy.backoff_max)).await;
                    continue;
                }
            };
            let status = response.status();
            if status.is_success() {
                let body = response.bytes().await.map_err(|e| {
                    ProviderError::Transient(format!(
                        "{provider}: reading the answer: {}",
                        describe(e)
                    ))
                })?;
                return Ok((status, body));
            }
            match status {
                StatusCode::UNAUTHORIZED if !refreshed => {
                    tracing::info!(provider, "credentials refused; refreshing once");
                    credentials = self.credentials.refresh(integration).await?;
                    refreshed = true;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(ProviderError::Unauthorized);
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    let retry_after = retry_after(&response);
                    let wait = retry_after
                        .unwrap_or_else(|| backoff.next().unwrap_or(self.policy.backoff_max));
                    if last_attempt || wait > self.policy.max_retry_after {
                        return Err(ProviderError::RateLimited { retry_after });
                    }
                    tracing::warn!(
                        provider,
                        attempt,
                        ?wait,
                        "provider rate limit; waiting as asked"
                    );
                    tokio::time::sleep(wait).await;
                }
                status if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT => {
                    if last_attempt {
                        return Err(ProviderError::Transient(format!(
                            "{provider} answered {status}"
                        )));
                    }
                    tracing::warn!(provider, attempt, %status, "provider server error; retrying");
                    tokio::time::sleep(backoff.next().unwrap_or(self.policy.backoff_max)).await;
                }
                StatusCode::NOT_FOUND => {
                    return Err(ProviderError::NotFound(
                        error_text(provider, response).await,
                    ));
                }
                StatusCode::PRECONDITION_FAILED | StatusCode::CONFLICT => {
                    return Err(ProviderError::PreconditionFailed);
                }
                _ => {
                    return Err(ProviderError::Unexpected(anyhow::anyhow!(
                        "{}",
                        error_text(provider, response).await
                    )));
                }
            }
        }
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Transport errors without the URL (it may carry query parameters).
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}

async fn error_text(provider: &str, response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let body: String = body.chars().take(MAX_ERROR_BODY).collect();
    format!("{provider} answered {status}: {body}")
}
