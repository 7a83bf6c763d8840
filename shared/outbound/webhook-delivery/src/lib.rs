//! Delivering events to the webhooks that subscribed to them.
//!
//! [`WebhookFanout`] wraps the event bus: once the broker confirmed a batch,
//! its events are handed (cheaply: the bodies are shared) to the
//! [`DeliveryWorker`] and the publisher moves on, so a slow or failing receiver
//! never slows or fails a sync. The worker finds the tenant's active webhooks
//! for the event's type and integration, records a delivery, POSTs the
//! envelope signed, and retries with exponential backoff and jitter for a
//! bounded number of attempts. A webhook whose deliveries keep failing is
//! marked unhealthy, then deactivated. Deliveries and their attempts are kept
//! (`GET /api/v1/webhooks/{id}/deliveries`).
//!
//! Both shapes deliver from the process that published the event: the
//! container in the background, a function before its invocation answers.
//! A delivery whose process dies before it is done is resumed by a sweep
//! (`recovery.rs`).

mod recovery;
mod sender;
pub mod signing;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use secrecy::ExposeSecret;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::TaskTracker;

pub use recovery::DeliveryRecovery;
pub use sender::{Attempt, Sender};
use sync_core::{
    config::WebhookSettings,
    domain::{
        TenantId, Webhook,
        events::OutboundEvent,
        time,
        webhook::{DeliveryStatus, WebhookDelivery},
    },
    ports::{
        Confirming, EventBus, PublishError,
        store::{Filter, Query},
    },
    repository::Repository,
    webhooks::url_guard::HostAllowlist,
};

/// `bus` with delivery to webhooks on top, and the worker behind it (whose
/// `idle()` a function awaits before it answers).
pub fn delivering(
    settings: &sync_core::config::Settings,
    store: &Arc<dyn sync_core::ports::DocumentStore>,
    bus: Arc<dyn EventBus>,
) -> anyhow::Result<(Arc<dyn EventBus>, DeliveryWorker)> {
    let deliveries =
        DeliveryWorker::start(Repository::new(store.clone()), settings.webhooks.clone())?;
    Ok((
        Arc::new(WebhookFanout::new(bus, deliveries.clone())),
        deliveries,
    ))
}

/// How long a tenant's webhook list is reused before it is read again.
const WEBHOOK_CACHE_TTL: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct DeliveryWorker {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Repository,
    sender: Sender,
    settings: WebhookSettings,
    queue: mpsc::UnboundedSender<Vec<OutboundEvent>>,
    queued: AtomicUsize,
    in_flight: TaskTracker,
    slots: Arc<Semaphore>,
    cache: Mutex<HashMap<TenantId, CachedWebhooks>>,
}

/// A tenant's active webhooks, and when they were read.
type CachedWebhooks = (Instant, Arc<Vec<Webhook>>);

impl DeliveryWorker {
    /// Starts the worker (it lives as long as any handle does).
    pub fn start(repo: Repository, settings: WebhookSettings) -> anyhow::Result<Self> {
        let allowlist = HostAllowlist::new(settings.allowed_hosts.clone());
        let sender = Sender::new(allowlist, settings.timeout, settings.max_response_bytes)?;
        let (queue, mut incoming) = mpsc::unbounded_channel::<Vec<OutboundEvent>>();
        let inner = Arc::new(Inner {
            repo,
            sender,
            slots: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            settings,
            queue,
            queued: AtomicUsize::new(0),
            in_flight: TaskTracker::new(),
            cache: Mutex::new(HashMap::new()),
        });
        let worker = DeliveryWorker {
            inner: inner.clone(),
        };
        let weak = Arc::downgrade(&inner);
        drop(inner);
        tokio::spawn(async move {
            while let Some(events) = incoming.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                let worker = DeliveryWorker { inner };
                worker.fan_out(events).await;
                worker.inner.queued.fetch_sub(1, Ordering::SeqCst);
            }
        });
        Ok(worker)
    }

    /// Hands confirmed events over; never waits. Runs on the publish path, so
    /// events a freshly cached tenant has no webhook for are dropped here,
    /// without copying them to the worker.
    pub fn offer(&self, events: &[OutboundEvent]) {
        let wanted: Vec<OutboundEvent> = {
            let cache = self.inner.cache.lock().expect("webhook cache");
            events
                .iter()
                .filter(|event| match cache.get(&event.tenant_id) {
                    Some((at, hooks)) if at.elapsed() < WEBHOOK_CACHE_TTL => hooks
                        .iter()
                        .any(|w| w.events.iter().any(|e| e == event.event_type)),
                    // Not known (or stale): the worker reads the tenant's webhooks.
                    _ => true,
                })
                .cloned()
                .collect()
        };
        if wanted.is_empty() {
            return;
        }
        self.inner.queued.fetch_add(1, Ordering::SeqCst);
        if self.inner.queue.send(wanted).is_err() {
            self.inner.queued.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Forgets a tenant's cached webhooks (after a change through the API).
    pub fn invalidate(&self, tenant: TenantId) {
        self.inner
            .cache
            .lock()
            .expect("webhook cache")
            .remove(&tenant);
    }

    /// Waits until every offered event is delivered or has failed for good.
    pub async fn idle(&self) {
        while self.inner.queued.load(Ordering::SeqCst) > 0 || !self.inner.in_flight.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn webhooks(&self, tenant: TenantId) -> Arc<Vec<Webhook>> {
        if let Some((at, hooks)) = self.inner.cache.lock().expect("webhook cache").get(&tenant)
            && at.elapsed() < WEBHOOK_CACHE_TTL
        {
            return hooks.clone();
        }
        let query = Query {
            filters: vec![Filter::eq("active", true)],
            order_by: "createdAt",
            descending: false,
        };
        let hooks = match self
            .inner
            .repo
            .query::<Webhook>(tenant, &query, 200, None)
            .await
        {
            Ok(page) => Arc::new(page.items),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read webhooks; these events are not delivered");
                Arc::new(Vec::new())
            }
        };
        self.inner
            .cache
            .lock()
            .expect("webhook cache")
            .insert(tenant, (Instant::now(), hooks.clone()));
        hooks
    }

    async fn fan_out(&self, events: Vec<OutboundEvent>) {
        for event in events {
            let hooks = self.webhooks(event.tenant_id).await;
            let candidates: Vec<&Webhook> = hooks
                .iter()
                .filter(|w| w.events.iter().any(|e| e == event.event_type))
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let integration = serde_json::from_slice::<serde_json::Value>(&event.body)
                .ok()
                .and_then(|v| v["data"]["integrationId"].as_str().map(str::to_owned));
            for webhook in candidates {
                if integration.as_deref() != Some(webhook.integration_id.as_str()) {
                    continue;
                }
                self.spawn_attempts(webhook.clone(), Pending::new(webhook, &event));
            }
        }
    }

    /// Attempts `pending` in the background, within the worker's concurrency.
    fn spawn_attempts(&self, webhook: Webhook, pending: Pending) {
        let (worker, slots) = (self.clone(), self.inner.slots.clone());
        self.inner.in_flight.spawn(async move {
            let _slot = slots.acquire_owned().await;
            worker.deliver(webhook, pending).await;
        });
    }

    /// Attempts a delivery until it is delivered or has failed for good,
    /// going on from the attempts already made (a resumed delivery).
    async fn deliver(&self, webhook: Webhook, pending: Pending) {
        let settings = &self.inner.settings;
        if pending.delivery.attempts == 0 {
            // The marker first: a crash before the record leaves enough to resume.
            self.mark_pending(&pending.delivery, &pending.body, Duration::ZERO)
                .await;
            self.record(&pending.delivery).await;
        }
        let Pending { mut delivery, body } = pending;
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(settings.backoff_min)
            .with_max_delay(settings.backoff_max)
            .with_max_times(settings.max_attempts as usize)
            .with_jitter()
            .build();
        for _ in 1..delivery.attempts {
            backoff.next();
        }
        loop {
            delivery.attempts += 1;
            let timestamp = chrono::Utc::now().timestamp();
            let mut headers = vec![
                ("X-Webhook-Id", webhook.webhook_id.to_string()),
                ("X-Webhook-Delivery", delivery.delivery_id.to_string()),
                ("X-Webhook-Event", delivery.event_type.clone()),
                ("X-Webhook-Timestamp", timestamp.to_string()),
            ];
            if let Some(secret) = &webhook.secret {
                headers.push((
                    "X-Webhook-Signature",
                    signing::sign(secret.expose_secret().as_bytes(), timestamp, &body),
                ));
            }
            let outcome = self
                .inner
                .sender
                .post(&webhook.url, headers, body.clone())
                .await;
            delivery.updated_at = time::now();
            match outcome {
                Attempt::Delivered(status) => {
                    delivery.status = DeliveryStatus::Delivered;
                    delivery.last_status_code = Some(status);
                    delivery.last_error = None;
                    delivery.delivered_at = Some(delivery.updated_at);
                }
                Attempt::Refused(status) => {
                    delivery.last_status_code = Some(status);
                    delivery.last_error = Some(format!("the receiver answered {status}"));
                }
                Attempt::Failed(reason) => delivery.last_error = Some(reason),
            }
            let next = (delivery.status == DeliveryStatus::Pending
                && delivery.attempts < settings.max_attempts)
                .then(|| backoff.next())
                .flatten();
            if delivery.status == DeliveryStatus::Pending && next.is_none() {
                delivery.status = DeliveryStatus::Failed;
            }
            self.record(&delivery).await;
            match next {
                Some(wait) => {
                    self.mark_pending(&delivery, &body, wait).await;
                    tokio::time::sleep(wait).await;
                }
                None => break,
            }
        }
        self.settle(&delivery).await;
        metrics::counter!("webhook_deliveries_total", "status" => match delivery.status {
            DeliveryStatus::Delivered => "delivered",
            _ => "failed",
        })
        .increment(1);
        self.update_health(&webhook, delivery.status == DeliveryStatus::Delivered)
            .await;
    }

    async fn record(&self, delivery: &WebhookDelivery) {
        if let Err(e) = self.inner.repo.upsert(delivery).await {
            tracing::warn!(error = %e, delivery_id = %delivery.delivery_id, "cannot record a webhook delivery");
        }
    }

    async fn update_health(&self, webhook: &Webhook, delivered: bool) {
        let (unhealthy_after, deactivate_after) = (
            self.inner.settings.unhealthy_after,
            self.inner.settings.deactivate_after,
        );
        let result = self
            .inner
            .repo
            .update::<Webhook, _>(webhook.tenant_id, &webhook.webhook_id.to_string(), |w| {
                if delivered {
                    let changed = w.consecutive_failures != 0 || !w.healthy;
                    w.consecutive_failures = 0;
                    w.healthy = true;
                    return changed;
                }
                w.consecutive_failures += 1;
                if unhealthy_after > 0 && w.consecutive_failures >= unhealthy_after {
                    w.healthy = false;
                }
                if deactivate_after > 0 && w.consecutive_failures >= deactivate_after {
                    w.active = false;
                }
                w.updated_at = time::now();
                true
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, webhook_id = %webhook.webhook_id, "cannot record a webhook's health");
        }
        self.invalidate(webhook.tenant_id);
    }
}

/// A delivery not yet done and the bytes it sends.
pub(crate) struct Pending {
    delivery: WebhookDelivery,
    body: bytes::Bytes,
}

impl Pending {
    fn new(webhook: &Webhook, event: &OutboundEvent) -> Self {
        let now = time::now();
        Pending {
            delivery: WebhookDelivery {
                delivery_id: uuid::Uuid::new_v4(),
                webhook_id: webhook.webhook_id,
                tenant_id: webhook.tenant_id,
                event_id: event.id,
                event_type: event.event_type.to_owned(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                last_status_code: None,
                last_error: None,
                created_at: now,
                updated_at: now,
                delivered_at: None,
            },
            body: event.body.clone(),
        }
    }
}

/// The event bus, plus webhook delivery of what it confirmed.
pub struct WebhookFanout<B> {
    inner: B,
    worker: DeliveryWorker,
}

impl<B> WebhookFanout<B> {
    pub fn new(inner: B, worker: DeliveryWorker) -> Self {
        WebhookFanout { inner, worker }
    }
}

#[async_trait]
impl<B: EventBus> EventBus for WebhookFanout<B> {
    async fn publish(&self, events: &[OutboundEvent]) -> Result<(), PublishError> {
        self.inner.publish(events).await?;
        self.worker.offer(events);
        Ok(())
    }

    /// Webhooks are offered what the broker confirmed, once it has.
    async fn send(&self, events: Arc<[OutboundEvent]>) -> Result<Confirming, PublishError> {
        let confirming = self.inner.send(events.clone()).await?;
        let worker = self.worker.clone();
        Ok(Box::pin(async move {
            confirming.await?;
            worker.offer(&events);
            Ok(())
        }))
    }

    async fn health(&self) -> Result<(), PublishError> {
        self.inner.health().await
    }

    async fn dead_letter(
        &self,
        body: &[u8],
        routing_key: &str,
        reason: &str,
    ) -> Result<(), PublishError> {
        self.inner.dead_letter(body, routing_key, reason).await
    }
}
