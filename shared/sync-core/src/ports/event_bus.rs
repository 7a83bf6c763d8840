//! The event bus port: publishing envelopes to the platform's topic exchange.

use std::{future::Future, pin::Pin, sync::Arc};

use async_trait::async_trait;

use crate::domain::events::OutboundEvent;

/// What [`EventBus::send`] hands back: resolves once the broker confirmed
/// every event it sent (or says why not).
pub type Confirming = Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker is unreachable or the channel closed.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// The broker refused a message (negative acknowledgement).
    #[error("the broker refused {refused} of {total} events")]
    Nacked { refused: usize, total: usize },
    /// An exchange or queue exists on the broker with another declaration
    /// than this service's; retrying cannot help. The text names it.
    #[error("broker topology conflict: {0}")]
    Topology(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[async_trait]
impl<T: EventBus + ?Sized> EventBus for std::sync::Arc<T> {
    async fn publish(&self, events: &[OutboundEvent]) -> Result<(), PublishError> {
        (**self).publish(events).await
    }
    async fn send(&self, events: Arc<[OutboundEvent]>) -> Result<Confirming, PublishError> {
        (**self).send(events).await
    }
    async fn health(&self) -> Result<(), PublishError> {
        (**self).health().await
    }
    async fn dead_letter(
        &self,
        body: &[u8],
        routing_key: &str,
        reason: &str,
    ) -> Result<(), PublishError> {
        (**self).dead_letter(body, routing_key, reason).await
    }
}

/// Guarantees every implementation gives:
/// - `publish` resolves `Ok` only when every event in the slice is durably
///   accepted (RabbitMQ: persistent and confirmed); on `Err` some may have been
///   published, so callers must treat a retry as at-least-once;
/// - the routing key of each message is its event type;
/// - many events in one call are pipelined, not one round trip each.
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, events: &[OutboundEvent]) -> Result<(), PublishError>;

    /// Hands `events` to the broker without waiting for its confirms, which
    /// the returned future awaits: a caller sends the next batch while the
    /// broker is still confirming this one. Events of consecutive calls go
    /// out in the order of the calls. On `Err`, from either, some events may
    /// be out: the caller publishes them again (at least once, same ids).
    /// By default this publishes and returns a confirmation already settled.
    async fn send(&self, events: Arc<[OutboundEvent]>) -> Result<Confirming, PublishError> {
        self.publish(&events).await?;
        Ok(Box::pin(std::future::ready(Ok(()))))
    }

    /// Whether the bus can publish right now; used by `/ready`.
    async fn health(&self) -> Result<(), PublishError>;

    /// Sets aside a consumed message that can never be processed, with the
    /// reason, so it is kept for a person and not retried (RabbitMQ: the
    /// dead-letter exchange, reason in the `x-failure-reason` header).
    async fn dead_letter(
        &self,
        body: &[u8],
        routing_key: &str,
        reason: &str,
    ) -> Result<(), PublishError> {
        tracing::error!(
            routing_key,
            reason,
            bytes = body.len(),
            "message dead-lettered"
        );
        Ok(())
    }
}
