//! A durable queue bound to every routing key of an exchange: unlike an
//! exclusive observer queue it outlives a broker restart with its messages
//! (they are persistent), so a test reads everything published across the
//! outage once the broker is back.

use std::time::Duration;

use lapin::{
    Connection,
    options::{BasicGetOptions, QueueDeclareOptions},
    types::FieldTable,
};
use serde_json::Value;

pub struct DurableTap {
    url: String,
    queue: String,
}

impl DurableTap {
    pub async fn bind(url: &str, exchange: &str) -> Self {
        let connection = Connection::connect(url, Default::default())
            .await
            .expect("RabbitMQ reachable");
        let channel = connection.create_channel().await.expect("channel");
        let queue = format!("tap.{}", uuid::Uuid::new_v4().simple());
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::durable(),
                FieldTable::default(),
            )
            .await
            .expect("declare tap queue");
        crate::broker::bind_to_everything(&channel, &queue, exchange).await;
        let _ = connection.close(200, "ok".into()).await;
        DurableTap {
            url: url.to_owned(),
            queue,
        }
    }

    /// Everything on the queue now, in order, as (routing key, body).
    pub async fn drain(&self) -> Vec<(String, Value)> {
        let connection = Connection::connect(&self.url, Default::default())
            .await
            .expect("RabbitMQ reachable");
        let channel = connection.create_channel().await.expect("channel");
        let mut events = Vec::new();
        while let Some(message) = channel
            .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")
        {
            let body = serde_json::from_slice(&message.delivery.data).expect("events are JSON");
            events.push((message.delivery.routing_key.to_string(), body));
        }
        let _ = connection.close(200, "ok".into()).await;
        events
    }

    /// Drains until an event of type `last` has arrived, or fails after `timeout`.
    pub async fn drain_until(&self, last: &str, timeout: Duration) -> Vec<(String, Value)> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut events = Vec::new();
        loop {
            events.extend(self.drain().await);
            if events.iter().any(|(k, _)| k == last) {
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no `{last}` on the tap within {timeout:?} ({} events)",
                events.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
