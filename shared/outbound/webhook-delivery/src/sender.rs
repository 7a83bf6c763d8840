//! The HTTP side of a delivery, guarded: the URL is checked again against the
//! SSRF rules, DNS answers pointing to loopback/private/link-local addresses are
//! refused (unless allowlisted), redirects are never followed, and response
//! bodies are read only up to a cap.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use futures::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use sync_core::webhooks::url_guard::{HostAllowlist, check_url, is_forbidden_ip};

struct GuardedResolver {
    allowlist: HostAllowlist,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allowed = self.allowlist.permits(&host);
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let safe: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| allowed || !is_forbidden_ip(a.ip()))
                .collect();
            if safe.is_empty() {
                return Err(
                    format!("{host} resolves only to addresses webhooks may not reach").into(),
                );
            }
            Ok(Box::new(safe.into_iter()) as Addrs)
        })
    }
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered(u16),
    /// The receiver answered, but not 2xx.
    Refused(u16),
    /// No usable answer (refused address, connection, timeout).
    Failed(String),
}

#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    allowlist: HostAllowlist,
    max_response_bytes: usize,
}

impl Sender {
    pub fn new(
        allowlist: HostAllowlist,
        timeout: Duration,
        max_response_bytes: usize,
    ) -> anyhow::Result<Self> {
        let http = outgoing_http::client_builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver {
                allowlist: allowlist.clone(),
            }))
            .build()?;
        Ok(Sender {
            http,
            allowlist,
            max_response_bytes,
        })
    }

    pub async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: bytes::Bytes,
    ) -> Attempt {
        // The allowlist may have changed since registration: check again.
        let url = match check_url(url, &self.allowlist) {
            Ok(url) => url,
            Err(why) => return Attempt::Failed(format!("the URL is no longer allowed: {why}")),
        };
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Attempt::Failed(e.without_url().to_string()),
        };
        let status = response.status().as_u16();
        // Drain at most the cap, so a hostile receiver cannot make us read forever.
        let mut stream = response.bytes_stream();
        let mut read = 0;
        while let Some(Ok(chunk)) = stream.next().await {
            read += chunk.len();
            if read >= self.max_response_bytes {
                break;
            }
        }
        if (200..300).contains(&status) {
            Attempt::Delivered(status)
        } else {
            Attempt::Refused(status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowlisted() {
        let name = || "localhost".parse::<Name>().unwrap();
        let guarded = GuardedResolver {
            allowlist: HostAllowlist::default(),
        };
        assert!(
            guarded.resolve(name()).await.is_err(),
            "localhost resolves to loopback only"
        );
        let allowlisted = GuardedResolver {
            allowlist: HostAllowlist::new(["localhost".to_owned()]),
        };
        assert!(
            allowlisted.resolve(name()).await.is_ok(),
            "an allowlisted name resolves"
        );
        // A sender whose allowlist names only the IP refuses the name: delivery never starts.
        let refused = Sender::new(
            HostAllowlist::new(["127.0.0.1".to_owned()]),
            Duration::from_secs(2),
            1024,
        )
        .unwrap();
        let outcome = refused
            .post("https://localhost:1/hook", vec![], bytes::Bytes::new())
            .await;
        assert!(matches!(outcome, Attempt::Failed(_)), "{outcome:?}");
    }
}
