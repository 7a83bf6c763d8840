//! A broker as the platform's own services leave it: a virtual host of its
//! own (so its `coder_events.dlx` cannot clash with other tests' names),
//! declared the way integration-processors (`src/startup/ensureQueues.ts`) and
//! the first integration-sync (`@coder/shared` `EventConsumer.connect`, queue
//! `integration_sync_service` and `integration_sync_service_sync_tasks`)
//! declare it. The virtual host is deleted when dropped.

use std::process::Command;

use lapin::{
    ExchangeKind,
    options::{ExchangeDeclareOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable, LongString},
};

pub struct Vhost {
    pub name: String,
    pub url: String,
}

fn rabbitmqctl(args: &[&str]) {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("rabbitmqctl is needed to make a virtual host: {e}"));
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Vhost {
    pub fn create() -> Self {
        let name = format!("it-platform-{}", uuid::Uuid::new_v4().simple());
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Vhost {
            url: format!("amqp://guest:guest@127.0.0.1:5672/{name}"),
            name,
        }
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

async fn queue(channel: &lapin::Channel, name: &str, arguments: FieldTable) {
    channel
        .queue_declare(name.into(), QueueDeclareOptions::durable(), arguments)
        .await
        .unwrap_or_else(|e| panic!("declare {name}: {e}"));
}

/// What ensureQueues.ts declares that concerns this service: the exchanges,
/// and the queue its CRM mapping consumer reads our records from.
pub async fn declare_as_integration_processors(url: &str) {
    let connection = crate::broker::connect_to(url).await;
    let channel = connection.create_channel().await.expect("channel");
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            "coder_events".into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .expect("coder_events");
    channel
        .exchange_declare(
            "coder_events.dlx".into(),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await
        .expect("coder_events.dlx");
    let mut raw = FieldTable::default();
    raw.insert("x-dead-letter-exchange".into(), text("coder_events.dlx"));
    raw.insert(
        "x-dead-letter-routing-key".into(),
        text("integration.data.raw.dlq"),
    );
    raw.insert("x-message-ttl".into(), AMQPValue::LongInt(86_400_000));
    queue(&channel, "integration_data_raw", raw).await;
    crate::broker::bind(
        &channel,
        "integration_data_raw",
        "coder_events",
        &["integration.data.raw", "integration.data.raw.batch"],
    )
    .await;
    let mut dlq = FieldTable::default();
    dlq.insert("x-message-ttl".into(), AMQPValue::LongInt(604_800_000));
    queue(&channel, "integration_data_raw.dlq", dlq).await;
    crate::broker::bind(
        &channel,
        "integration_data_raw.dlq",
        "coder_events.dlx",
        &["integration.data.raw.dlq"],
    )
    .await;
}

/// What the first integration-sync declared: two durable queues without
/// arguments (`IntegrationSyncEventConsumer.ts`, `SyncTaskEventConsumer.ts`).
pub async fn declare_as_the_first_implementation(url: &str) {
    let connection = crate::broker::connect_to(url).await;
    let channel = connection.create_channel().await.expect("channel");
    queue(&channel, "integration_sync_service", FieldTable::default()).await;
    crate::broker::bind(
        &channel,
        "integration_sync_service",
        "coder_events",
        &[
            "shard.updated",
            "integration.sync.scheduled",
            "integration.webhook.received",
            "integration.token.refresh-requested",
        ],
    )
    .await;
    queue(
        &channel,
        "integration_sync_service_sync_tasks",
        FieldTable::default(),
    )
    .await;
    crate::broker::bind(
        &channel,
        "integration_sync_service_sync_tasks",
        "coder_events",
        &[
            "integration.sync.scheduled",
            "integration.webhook.received",
            "integration.token.refresh-requested",
            "integration.data.mapped",
            "integration.data.mapping.failed",
        ],
    )
    .await;
}

/// Takes every message waiting on `queue` (acknowledging them).
pub async fn drain(url: &str, queue: &str) -> Vec<serde_json::Value> {
    let connection = crate::broker::connect_to(url).await;
    let channel = connection.create_channel().await.expect("channel");
    let mut messages = Vec::new();
    while let Some(message) = channel
        .basic_get(
            queue.into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic.get")
    {
        messages.push(serde_json::from_slice(&message.delivery.data).expect("JSON"));
    }
    messages
}
