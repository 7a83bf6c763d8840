//! The event bus port: publishing envelopes to the platform's topic exchange.

use async_trait::async_trait;

use crate::domain::events::OutboundEvent;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker is unreachable or the channel closed.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// The broker refused a message (negative acknowledgement).
    #[error("the broker refused {refused} of {total} events")]
    Nacked { refused: usize, total: usize },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Guarantees every implementation gives:
/// - `publish` resolves `Ok` only when every event in the slice is durably
///   accepted (RabbitMQ: persistent and confirmed); on `Err` some may have been
///   published, so callers must treat a retry as at-least-once;
/// - the routing key of each message is its event type;
/// - many events in one call are pipelined, not one round trip each.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    async fn publish(&self, events: &[OutboundEvent]) -> Result<(), PublishError>;

    /// Whether the bus can publish right now; used by `/ready`.
    async fn health(&self) -> Result<(), PublishError>;
}
