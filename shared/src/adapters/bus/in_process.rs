//! The embedded event bus: events stay in this process.
//!
//! Used when no `RABBITMQ_URL` is configured. Subscribers (the local runner's
//! consumers, tests, a developer's log) receive every published event; with no
//! subscriber an event is only logged, which is what a single-process demo needs.

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{
    domain::events::OutboundEvent,
    ports::event_bus::{EventBus, PublishError},
};

/// Events kept for a slow subscriber before it starts missing them.
const SUBSCRIBER_BUFFER: usize = 65_536;

#[derive(Clone)]
pub struct InProcessBus {
    sender: broadcast::Sender<OutboundEvent>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        InProcessBus { sender }
    }
}

impl InProcessBus {
    pub fn subscribe(&self) -> broadcast::Receiver<OutboundEvent> {
        self.sender.subscribe()
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, events: &[OutboundEvent]) -> Result<(), PublishError> {
        for event in events {
            tracing::debug!(event_type = event.event_type, event_id = %event.id, "event published in process");
            // No subscriber is not an error: the embedded bus has nowhere else to send.
            let _ = self.sender.send(event.clone());
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
    use crate::domain::events::{EventFactory, EventMetadata, SyncFailed, types};

    #[tokio::test]
    async fn subscribers_receive_published_events_in_order() {
        let bus = InProcessBus::default();
        let mut rx = bus.subscribe();
        let factory = EventFactory::new("test");
        let events: Vec<_> = (0..3)
            .map(|_| {
                factory.build(
                    types::SYNC_FAILED,
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
            .collect();
        bus.publish(&events).await.unwrap();
        for expected in &events {
            assert_eq!(rx.recv().await.unwrap().id, expected.id);
        }
    }
}
