//! An event bus decorator that counts what is published, by event type and
//! outcome, for `/metrics`. Wraps either adapter.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    domain::events::OutboundEvent,
    ports::event_bus::{Confirming, EventBus, PublishError},
};

pub struct MeteredBus<B> {
    inner: B,
}

impl<B> MeteredBus<B> {
    pub fn new(inner: B) -> Self {
        MeteredBus { inner }
    }
}

#[async_trait]
impl<B: EventBus> EventBus for MeteredBus<B> {
    async fn publish(&self, events: &[OutboundEvent]) -> Result<(), PublishError> {
        let result = self.inner.publish(events).await;
        count(events, result.is_ok());
        result
    }

    async fn send(&self, events: Arc<[OutboundEvent]>) -> Result<Confirming, PublishError> {
        let confirming = self
            .inner
            .send(events.clone())
            .await
            .inspect_err(|_| count(&events, false))?;
        Ok(Box::pin(async move {
            let result = confirming.await;
            count(&events, result.is_ok());
            result
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
        metrics::counter!("events_dead_lettered_total").increment(1);
        self.inner.dead_letter(body, routing_key, reason).await
    }
}

/// Counts `events` under their type and the publish's outcome.
fn count(events: &[OutboundEvent], confirmed: bool) {
    let outcome = if confirmed { "confirmed" } else { "failed" };
    // Batches hold few types; count per type once, not per event.
    let mut per_type: Vec<(&'static str, u64)> = Vec::new();
    for event in events {
        match per_type.iter_mut().find(|(t, _)| *t == event.event_type) {
            Some((_, n)) => *n += 1,
            None => per_type.push((event.event_type, 1)),
        }
    }
    for (event_type, n) in per_type {
        metrics::counter!("events_published_total", "type" => event_type, "outcome" => outcome)
            .increment(n);
    }
}
