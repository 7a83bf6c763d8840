//! The embedded event bus: events stay in this process.
//!
//! Used when no `RABBITMQ_URL` is configured. Subscribers (the local runner's
//! consumers, tests, a developer's log) receive every published event; with no
//! subscriber an event is only logged, which is what a single-process demo needs.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{
    domain::events::OutboundEvent,
    ports::event_bus::{EventBus, PublishError},
};

/// Events kept for a slow subscriber before it starts missing them.
const SUBSCRIBER_BUFFER: usize = 65_536;

/// The channel exists from the first subscription on: a broadcast channel
/// allocates and initialises every slot of its buffer up front (8 MiB and
/// 7 ms of start-up at this size), and most processes never subscribe.
#[derive(Clone, Default)]
pub struct InProcessBus {
    sender: Arc<OnceLock<broadcast::Sender<OutboundEvent>>>,
}

impl InProcessBus {
    /// Every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<OutboundEvent> {
        self.sender
            .get_or_init(|| broadcast::channel(SUBSCRIBER_BUFFER).0)
            .subscribe()
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, events: &[OutboundEvent]) -> Result<(), PublishError> {
        for event in events {
            tracing::debug!(event_type = event.event_type, event_id = %event.id, "event published in process");
            // No subscriber is not an error: the embedded bus has nowhere else to send.
            if let Some(sender) = self.sender.get() {
                let _ = sender.send(event.clone());
            }
        }
        Ok(())
    }

    async fn health(&self) -> Result<(), PublishError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::{EventFactory, EventMetadata, EventType, SyncFailed};

    fn events(n: usize) -> Vec<OutboundEvent> {
        let factory = EventFactory::new("test");
        (0..n)
            .map(|_| {
                factory.build(
                    EventType::SyncFailed,
                    uuid::Uuid::new_v4(),
                    SyncFailed {
                        task_id: uuid::Uuid::nil(),
                        integration_id: "int",
                        execution_id: uuid::Uuid::nil(),
                        error: "x",
                    },
                    &EventMetadata::default(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn subscribers_receive_published_events_in_order() {
        let bus = InProcessBus::default();
        let mut rx = bus.subscribe();
        let events = events(3);
        bus.publish(&events).await.unwrap();
        for expected in &events {
            assert_eq!(rx.recv().await.unwrap().id, expected.id);
        }
    }

    #[tokio::test]
    async fn no_buffer_exists_until_someone_subscribes_and_clones_share_it() {
        let bus = InProcessBus::default();
        let publisher = bus.clone();
        publisher.publish(&events(2)).await.unwrap();
        assert!(bus.sender.get().is_none(), "no subscriber, no buffer");
        let mut rx = bus.subscribe();
        let later = events(1);
        publisher.publish(&later).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().id, later[0].id);
    }
}
