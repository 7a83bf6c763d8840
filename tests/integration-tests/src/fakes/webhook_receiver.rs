//! A webhook receiver on port 0: records every call (headers and body),
//! refuses the first `fail_first` with a 500, and may hang before answering.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};

#[derive(Clone, Default)]
pub struct WebhookReceiver {
    pub calls: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    pub fail_first: Arc<AtomicUsize>,
    pub hang: Option<Duration>,
}

async fn receive(
    State(receiver): State<WebhookReceiver>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    receiver.calls.lock().unwrap().push((headers, body));
    if let Some(hang) = receiver.hang {
        tokio::time::sleep(hang).await;
    }
    let failing = receiver.fail_first.load(Ordering::SeqCst);
    if failing > 0 {
        receiver.fail_first.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

impl WebhookReceiver {
    /// Refuses the first `n` calls.
    pub fn failing_first(n: usize) -> Self {
        WebhookReceiver {
            fail_first: Arc::new(AtomicUsize::new(n)),
            ..Default::default()
        }
    }

    /// Serves on loopback; the URL to register (`…/hook`).
    pub async fn start(&self) -> String {
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(self.clone());
        format!("{}/hook", super::serve(router).await)
    }

    pub fn calls(&self) -> Vec<(HeaderMap, Bytes)> {
        self.calls.lock().unwrap().clone()
    }

    /// The `X-Webhook-Delivery` of every call, in order.
    pub fn delivery_ids(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|(headers, _)| {
                headers
                    .get("x-webhook-delivery")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    /// Waits until `n` calls arrived; fails the test after `within`.
    pub async fn calls_reach(&self, n: usize, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.calls.lock().unwrap().len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the receiver got {} calls, not {n}",
                self.calls.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
