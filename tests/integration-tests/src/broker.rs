//! The real RabbitMQ, as tests see it. A test that cannot reach it fails with a
//! message saying how to start it; it never passes silently.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use lapin::{
    Connection, ConnectionProperties,
    options::{BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::FieldTable,
};
use serde_json::Value;
use sync_core::domain::events::platform_rule;
use tokio::sync::mpsc;

pub fn rabbitmq_url() -> String {
    std::env::var("TEST_RABBITMQ_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

pub async fn connect() -> Connection {
    connect_to(&rabbitmq_url()).await
}

pub async fn connect_to(url: &str) -> Connection {
    Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| {
            panic!("RabbitMQ is not reachable at {url} ({e}); start it with `rabbitmq-server -detached`")
        })
}

/// Publishes a raw message to `exchange` with `routing_key`, confirmed.
pub async fn publish_raw(exchange: &str, routing_key: &str, body: &[u8]) {
    publish_raw_at(&rabbitmq_url(), exchange, routing_key, body).await
}

/// [`publish_raw`] on the broker (and virtual host) at `url`.
pub async fn publish_raw_at(url: &str, exchange: &str, routing_key: &str, body: &[u8]) {
    let connection = connect_to(url).await;
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(Default::default())
        .await
        .expect("confirms");
    channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            Default::default(),
            body,
            lapin::BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
}

/// Whether `queue` exists on the test broker (a passive declaration).
pub async fn queue_exists(queue: &str) -> bool {
    declared(queue).await.is_ok()
}

/// How many messages `queue` holds (it must exist).
pub async fn message_count(queue: &str) -> u32 {
    declared(queue)
        .await
        .unwrap_or_else(|e| panic!("queue {queue}: {e}"))
        .message_count()
}

async fn declared(queue: &str) -> Result<lapin::Queue, lapin::Error> {
    let connection = connect().await;
    let channel = connection.create_channel().await.expect("channel");
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
}

/// Waits for one message on `queue`; returns its body and `x-failure-reason`.
pub async fn next_on_queue(queue: &str, timeout: Duration) -> (Vec<u8>, Option<String>) {
    let connection = connect().await;
    let channel = connection.create_channel().await.expect("channel");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let got = channel
            .basic_get(
                queue.into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .expect("basic.get");
        if let Some(message) = got {
            let reason = message
                .delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get("x-failure-reason").cloned())
                .and_then(|v| match v {
                    lapin::types::AMQPValue::LongString(s) => Some(s.to_string()),
                    _ => None,
                });
            return (message.delivery.data.clone(), reason);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing arrived on {queue} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Declares `exchange` as the service does: a durable topic exchange.
pub async fn declare_exchange(channel: &lapin::Channel, exchange: &str) {
    channel
        .exchange_declare(
            exchange.into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare exchange");
}

/// Binds `queue` to `exchange` under each of `keys`.
pub async fn bind(channel: &lapin::Channel, queue: &str, exchange: &str, keys: &[&str]) {
    for key in keys {
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                (*key).into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("bind {queue} to {key}: {e}"));
    }
}

/// Declares `exchange` (durable topic, as the service does) and binds `queue`
/// to every routing key of it.
pub async fn bind_to_everything(channel: &lapin::Channel, queue: &str, exchange: &str) {
    declare_exchange(channel, exchange).await;
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind queue");
}

/// An exclusive queue bound to `#` on the test's exchange: every event the app
/// publishes lands here, in publish order. Every event this service
/// published is held to the platform's envelope rule as it arrives
/// (`platform_rule`): a test that sees one that breaks it fails, whatever
/// else it checks. Events the test itself sent as another service are not.
pub struct EventObserver {
    receiver: mpsc::UnboundedReceiver<(String, Value)>,
    violations: Arc<Mutex<Vec<String>>>,
    _connection: Connection,
}

impl EventObserver {
    pub async fn bind(exchange: &str) -> Self {
        Self::bind_at(&rabbitmq_url(), exchange).await
    }

    /// On the broker (and virtual host) at `url`.
    pub async fn bind_at(url: &str, exchange: &str) -> Self {
        let connection = connect_to(url).await;
        let channel = connection.create_channel().await.expect("channel");
        // Declared here too, so the observer may bind before the app starts.
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declare observer queue");
        bind_to_everything(&channel, queue.name().as_str(), exchange).await;
        let mut consumer = channel
            .basic_consume(
                queue.name().clone(),
                "observer".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let (sender, receiver) = mpsc::unbounded_channel();
        let violations = Arc::new(Mutex::new(Vec::new()));
        let found = violations.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let key = delivery.routing_key.to_string();
                let body: Value = serde_json::from_slice(&delivery.data).expect("events are JSON");
                if body["source"]["service"] == "integration-sync" {
                    let wrong = platform_rule::violations(&body);
                    if !wrong.is_empty() || body["type"] != key.as_str() {
                        found
                            .lock()
                            .unwrap()
                            .push(format!("{key}: {wrong:?} in {body}"));
                    }
                }
                if sender.send((key, body)).is_err() {
                    break;
                }
            }
        });
        EventObserver {
            receiver,
            violations,
            _connection: connection,
        }
    }

    /// Fails the test if this service published an event the platform would refuse.
    fn check_conformance(&self) {
        let violations = self.violations.lock().unwrap();
        assert!(
            violations.is_empty(),
            "published events the platform's envelope rule refuses: {violations:?}"
        );
    }

    /// Collects events until one of type `last` arrives (inclusive), or fails
    /// after `timeout`.
    pub async fn collect_until(&mut self, last: &str, timeout: Duration) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.receiver.recv()).await {
                Ok(Some((key, body))) => {
                    let done = key == last;
                    events.push((key, body));
                    if done {
                        self.check_conformance();
                        return events;
                    }
                }
                Ok(None) => panic!("observer stopped after {} events", events.len()),
                Err(_) => panic!(
                    "no `{last}` event within {timeout:?}; got {} events, the last ones {:?}",
                    events.len(),
                    events
                        .iter()
                        .rev()
                        .take(20)
                        .map(|(k, _)| k.as_str())
                        .collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Collects events until one of the `last` types arrives (inclusive).
    pub async fn collect_until_any(
        &mut self,
        last: &[&str],
        timeout: Duration,
    ) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.receiver.recv()).await {
                Ok(Some((key, body))) => {
                    let done = last.contains(&key.as_str());
                    events.push((key, body));
                    if done {
                        self.check_conformance();
                        return events;
                    }
                }
                Ok(None) => panic!("observer stopped after {} events", events.len()),
                Err(_) => panic!(
                    "none of {last:?} within {timeout:?}; got {} events",
                    events.len()
                ),
            }
        }
    }

    /// Events that arrive within `window` (to prove nothing more was sent).
    pub async fn drain_for(&mut self, window: Duration) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout(window, self.receiver.recv()).await {
            events.push(event);
        }
        self.check_conformance();
        events
    }
}

/// External ids carried by data events (`integration.data.raw` and batches,
/// under either batch name), with how often each appeared.
pub fn published_ids(events: &[(String, Value)]) -> std::collections::HashMap<String, usize> {
    let mut ids = std::collections::HashMap::new();
    for (kind, event) in events {
        let records: Vec<&Value> = match kind.as_str() {
            "integration.data.raw" => vec![&event["data"]],
            "integration.data.raw_batch" | "integration.data.raw.batch" => event["data"]["records"]
                .as_array()
                .map(|r| r.iter().collect())
                .unwrap_or_default(),
            _ => vec![],
        };
        for record in records {
            if let Some(id) = record["externalId"].as_str() {
                *ids.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    ids
}

/// The events of one type, in order.
pub fn of_type<'e>(events: &'e [(String, Value)], event_type: &str) -> Vec<&'e Value> {
    events
        .iter()
        .filter(|(k, _)| k == event_type)
        .map(|(_, v)| v)
        .collect()
}

/// An envelope as another platform service would publish it.
pub fn envelope(event_type: &str, tenant: uuid::Uuid, data: Value) -> Value {
    envelope_from("integration-manager", event_type, tenant, data)
}

/// `shard.updated` as shard-manager's `ShardService.update` publishes it
/// (`src/services/ShardService.ts`): ids only, never the shard —
/// `shardId`, `shardTypeId`, `shardTypeName` and `opportunityId`
/// (`structuredData.opportunityId || structuredData.id`); what is undefined
/// there is absent from the JSON.
pub fn shard_updated(tenant: uuid::Uuid, shard: &Value) -> Value {
    let mut data = serde_json::json!({"shardId": shard["id"], "shardTypeId": shard["shardTypeId"]});
    if let Some(name) = shard.get("shardTypeName").filter(|v| !v.is_null()) {
        data["shardTypeName"] = name.clone();
    }
    let structured = &shard["structuredData"];
    let truthy =
        |v: &&Value| !matches!(v, Value::Null | Value::Bool(false)) && **v != "" && **v != 0;
    if let Some(opportunity) = [&structured["opportunityId"], &structured["id"]]
        .into_iter()
        .find(truthy)
    {
        data["opportunityId"] = opportunity.clone();
    }
    envelope_from("shard-manager", "shard.updated", tenant, data)
}

/// An envelope as `@coder/shared`'s `createEvent` makes it for `service`.
pub fn envelope_from(service: &str, event_type: &str, tenant: uuid::Uuid, data: Value) -> Value {
    serde_json::json!({
        "id": uuid::Uuid::new_v4(), "type": event_type, "version": "1.0",
        "timestamp": "2026-11-27T00:00:00.000Z", "tenantId": tenant,
        "source": {"service": service, "instance": format!("{service}-1-1764547200000")},
        "data": data, "metadata": {"correlationId": uuid::Uuid::new_v4()}
    })
}
