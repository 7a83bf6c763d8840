//! The RabbitMQ event bus (lapin).
//!
//! Declares the platform's topology on connect: the durable topic exchange, this
//! service's durable queue bound to the configured routing keys, and a dead-letter
//! exchange and queue that receive what the service rejects. Publishing is
//! persistent with publisher confirms, pipelined: a batch is written to the
//! channel in one go and its confirms are awaited together.

use async_trait::async_trait;
use futures::future::join_all;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
    options::{
        BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
        QueueDeclareOptions,
    },
    types::{AMQPValue, FieldTable, LongString, ShortString},
};

use crate::{
    config::RabbitMqSettings,
    domain::events::{OutboundEvent, SERVICE_NAME},
    ports::event_bus::{EventBus, PublishError},
};

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

pub struct RabbitMqBus {
    connection: Connection,
    channel: Channel,
    exchange: ShortString,
    dead_letter_exchange: ShortString,
}

fn unavailable(context: &str, e: lapin::Error) -> PublishError {
    PublishError::Unavailable(format!("{context}: {e}"))
}

impl RabbitMqBus {
    /// Connects, declares the topology and enables publisher confirms.
    pub async fn connect(settings: &RabbitMqSettings, url: &str) -> Result<Self, PublishError> {
        let properties = ConnectionProperties::default().with_connection_name(SERVICE_NAME.into());
        let connection = Connection::connect(url, properties)
            .await
            .map_err(|e| unavailable("cannot connect to RabbitMQ", e))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| unavailable("cannot open a channel", e))?;
        declare_topology(&channel, settings).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| unavailable("cannot enable publisher confirms", e))?;
        Ok(RabbitMqBus {
            connection,
            channel,
            exchange: settings.exchange.as_str().into(),
            dead_letter_exchange: settings.dead_letter_exchange.as_str().into(),
        })
    }

    /// A channel of its own, for a consumer.
    pub async fn consumer_channel(&self) -> Result<Channel, PublishError> {
        self.connection
            .create_channel()
            .await
            .map_err(|e| unavailable("cannot open a consumer channel", e))
    }
}

async fn declare_topology(channel: &Channel, s: &RabbitMqSettings) -> Result<(), PublishError> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            s.exchange.as_str().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("cannot declare the exchange", e))?;
    channel
        .exchange_declare(
            s.dead_letter_exchange.as_str().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("cannot declare the dead-letter exchange", e))?;

    let mut dlq_args = FieldTable::default();
    let mut queue_args = FieldTable::default();
    queue_args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(LongString::from(s.dead_letter_exchange.as_str())),
    );
    if s.queue_expires_ms > 0 {
        // Only tests set this, so their uniquely named queues do not pile up.
        let expires = AMQPValue::LongLongInt(s.queue_expires_ms as i64);
        queue_args.insert("x-expires".into(), expires.clone());
        dlq_args.insert("x-expires".into(), expires);
    }
    channel
        .queue_declare(
            s.dead_letter_queue.as_str().into(),
            QueueDeclareOptions::durable(),
            dlq_args,
        )
        .await
        .map_err(|e| unavailable("cannot declare the dead-letter queue", e))?;
    channel
        .queue_bind(
            s.dead_letter_queue.as_str().into(),
            s.dead_letter_exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("cannot bind the dead-letter queue", e))?;
    channel
        .queue_declare(
            s.queue.as_str().into(),
            QueueDeclareOptions::durable(),
            queue_args,
        )
        .await
        .map_err(|e| unavailable("cannot declare the service queue", e))?;
    for key in &s.bindings {
        channel
            .queue_bind(
                s.queue.as_str().into(),
                s.exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| unavailable("cannot bind the service queue", e))?;
    }
    Ok(())
}

fn properties(event: &OutboundEvent) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        "tenantId".into(),
        AMQPValue::LongString(LongString::from(event.tenant_id.to_string())),
    );
    let mut props = BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type("application/json".into())
        .with_message_id(event.id.to_string().into())
        .with_type(event.event_type.into())
        .with_app_id(SERVICE_NAME.into())
        .with_timestamp(chrono::Utc::now().timestamp() as u64)
        .with_headers(headers);
    if let Some(correlation_id) = &event.correlation_id {
        props = props.with_correlation_id(correlation_id.as_str().into());
    }
    props
}

#[async_trait]
impl EventBus for RabbitMqBus {
    async fn publish(&self, events: &[OutboundEvent]) -> Result<(), PublishError> {
        let mut confirms = Vec::with_capacity(events.len());
        for event in events {
            let confirm = self
                .channel
                .basic_publish(
                    self.exchange.clone(),
                    event.event_type.into(),
                    BasicPublishOptions::default(),
                    &event.body,
                    properties(event),
                )
                .await
                .map_err(|e| unavailable("publish failed", e))?;
            confirms.push(confirm);
        }
        let mut refused = 0;
        for outcome in join_all(confirms).await {
            match outcome.map_err(|e| unavailable("publisher confirm failed", e))? {
                Confirmation::Ack(_) => {}
                Confirmation::Nack(_) => refused += 1,
                Confirmation::NotRequested => {
                    return Err(PublishError::Unexpected(anyhow::anyhow!(
                        "publisher confirms are not enabled on the channel"
                    )));
                }
            }
        }
        match refused {
            0 => Ok(()),
            refused => Err(PublishError::Nacked {
                refused,
                total: events.len(),
            }),
        }
    }

    async fn dead_letter(
        &self,
        body: &[u8],
        routing_key: &str,
        reason: &str,
    ) -> Result<(), PublishError> {
        let mut headers = FieldTable::default();
        let reason: String = reason.chars().take(1000).collect();
        headers.insert(
            "x-failure-reason".into(),
            AMQPValue::LongString(LongString::from(reason)),
        );
        let props = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_headers(headers);
        let confirm = self
            .channel
            .basic_publish(
                self.dead_letter_exchange.clone(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .map_err(|e| unavailable("dead-letter publish failed", e))?;
        match confirm
            .await
            .map_err(|e| unavailable("dead-letter confirm failed", e))?
        {
            Confirmation::Ack(_) => Ok(()),
            _ => Err(PublishError::Nacked {
                refused: 1,
                total: 1,
            }),
        }
    }

    async fn health(&self) -> Result<(), PublishError> {
        if self.connection.status().connected() && self.channel.status().connected() {
            Ok(())
        } else {
            Err(PublishError::Unavailable(
                "not connected to RabbitMQ".into(),
            ))
        }
    }
}
