//! The RabbitMQ event bus (lapin).
//!
//! Declares its topology on connect, so that it agrees with what the
//! platform's services already declared on the same broker: the durable topic
//! exchange `coder_events` (as every service declares it), this service's
//! queue durable and without arguments (as the first implementation declared
//! it), bound to the configured routing keys, and a dead-letter exchange and
//! queue of our own names (integration-processors owns `coder_events.dlx`, a
//! direct exchange) that receive what the service rejects, sent there
//! explicitly with the reason. A declaration that still disagrees with the
//! broker's stops the start with an error naming the exchange or queue and the
//! broker's complaint. Publishing is
//! persistent with publisher confirms, pipelined: a batch is written to the
//! channel in one go and its confirms are awaited together. Connections that
//! drop are replaced (see [`RabbitMqBus`]).

pub mod dead_letters;

use std::{
    future::Future,
    sync::{Arc, Weak},
    time::Duration,
};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use futures::future::{join_all, maybe_done};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
    PublisherConfirm,
    options::{
        BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
        QueueDeclareOptions,
    },
    types::{AMQPValue, FieldTable, LongString, ShortString},
};
use tokio::sync::{Mutex, RwLock};

use sync_core::{
    config::RabbitMqSettings,
    domain::events::{OutboundEvent, SERVICE_NAME},
    ports::event_bus::{Confirming, EventBus, PublishError},
};

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;
/// How often the supervisor looks at the connection while nobody publishes.
const SUPERVISE_EVERY: Duration = Duration::from_millis(500);

/// One connection and its publishing channel (confirms on).
struct Link {
    connection: Connection,
    channel: Channel,
}

impl Link {
    fn is_up(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }
}

/// Publishes to RabbitMQ and survives its outages: a lost connection or
/// channel is replaced (topology declared again) when the next operation needs
/// it, or by the supervisor within a second when nobody does, so `/ready`
/// turns true again on its own. Operations wait an outage out, with backoff,
/// up to `outage_tolerance`.
pub struct RabbitMqBus {
    url: String,
    settings: RabbitMqSettings,
    /// Whether this process consumes the service queue (the container), so
    /// declares and binds it; functions are fed by queues of their own.
    consumes: bool,
    outage_tolerance: Duration,
    link: RwLock<Option<Arc<Link>>>,
    reconnecting: Mutex<()>,
    exchange: ShortString,
    dead_letter_exchange: ShortString,
}

fn unavailable(context: &str, e: lapin::Error) -> PublishError {
    PublishError::Unavailable(format!("{context}: {e}"))
}

/// A failed declaration: a conflict with an existing declaration (406
/// PRECONDITION_FAILED) is named, with the broker's own words; anything else
/// is an outage.
fn declare_failed(what: &str, ours: &str, e: lapin::Error) -> PublishError {
    use lapin::{
        ErrorKind,
        protocol::{AMQPErrorKind, AMQPSoftError},
    };
    match e.kind() {
        ErrorKind::ProtocolError(amqp)
            if amqp.kind() == &AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED) =>
        {
            PublishError::Topology(format!(
                "{what} already exists on the broker with another declaration than this \
                 service's ({ours}): {}. Align the existing declaration or configure another name",
                amqp.get_message()
            ))
        }
        _ => unavailable(&format!("cannot declare {what}"), e),
    }
}

impl RabbitMqBus {
    /// Connects (the first connection must succeed: a wrong URL fails the
    /// start), declares the topology, and supervises the connection from then on.
    pub async fn connect(
        settings: &RabbitMqSettings,
        url: &str,
        outage_tolerance: Duration,
    ) -> Result<Arc<Self>, PublishError> {
        let link = open(settings, url, true).await?;
        let bus = Self::assemble(settings, url, true, outage_tolerance, Some(Arc::new(link)));
        tokio::spawn(supervise(Arc::downgrade(&bus)));
        Ok(bus)
    }

    /// Starts connecting and returns at once; operations wait for the
    /// connection as they wait out an outage. For a function's cold start,
    /// where the handshake can overlap the rest of the start-up. Only a
    /// malformed URL fails here. A function publishes only: its events come
    /// from its own event-source queue, so the service queue is not declared.
    pub fn connect_in_background(
        settings: &RabbitMqSettings,
        url: &str,
        outage_tolerance: Duration,
    ) -> Result<Arc<Self>, PublishError> {
        url.parse::<lapin::uri::AMQPUri>()
            .map_err(|e| PublishError::Unavailable(format!("invalid RabbitMQ URL: {e}")))?;
        let bus = Self::assemble(settings, url, false, outage_tolerance, None);
        let first = bus.clone();
        tokio::spawn(async move {
            match first.current().await {
                Err(e @ PublishError::Topology(_)) => {
                    tracing::error!(error = %e, "RabbitMQ refused this service's topology");
                }
                Err(e) => tracing::warn!(error = %e, "RabbitMQ is not reachable yet; retrying"),
                Ok(_) => {}
            }
        });
        tokio::spawn(supervise(Arc::downgrade(&bus)));
        Ok(bus)
    }

    fn assemble(
        settings: &RabbitMqSettings,
        url: &str,
        consumes: bool,
        outage_tolerance: Duration,
        link: Option<Arc<Link>>,
    ) -> Arc<Self> {
        Arc::new(RabbitMqBus {
            url: url.to_owned(),
            settings: settings.clone(),
            consumes,
            outage_tolerance,
            link: RwLock::new(link),
            reconnecting: Mutex::new(()),
            exchange: settings.exchange.as_str().into(),
            dead_letter_exchange: settings.dead_letter_exchange.as_str().into(),
        })
    }

    /// A channel of its own, for a consumer, on the live connection.
    pub async fn consumer_channel(&self) -> Result<Channel, PublishError> {
        self.with_link("open a consumer channel", |link| async move {
            link.connection
                .create_channel()
                .await
                .map_err(|e| unavailable("cannot open a consumer channel", e))
        })
        .await
    }

    /// The live link; reconnects once, now, if it is down.
    async fn current(&self) -> Result<Arc<Link>, PublishError> {
        if let Some(link) = self.link.read().await.as_ref().filter(|l| l.is_up()) {
            return Ok(link.clone());
        }
        let _one_at_a_time = self.reconnecting.lock().await;
        if let Some(link) = self.link.read().await.as_ref().filter(|l| l.is_up()) {
            return Ok(link.clone());
        }
        let reopened = open(&self.settings, &self.url, self.consumes).await;
        let mut slot = self.link.write().await;
        match reopened {
            Ok(link) => {
                let link = Arc::new(link);
                *slot = Some(link.clone());
                metrics::counter!("rabbitmq_reconnects_total").increment(1);
                tracing::info!("reconnected to RabbitMQ");
                Ok(link)
            }
            Err(e) => {
                if slot.take().is_some() {
                    tracing::warn!(error = %e, "lost RabbitMQ; reconnecting with backoff");
                }
                Err(e)
            }
        }
    }

    /// Runs `op` on the live link. While RabbitMQ is unreachable (or the link
    /// breaks under `op`) it reconnects and runs `op` again, with backoff and
    /// jitter, for at most `outage_tolerance`. A refusal by a live broker
    /// (`Nacked`) is not retried.
    async fn with_link<T, F, Fut>(&self, what: &'static str, op: F) -> Result<T, PublishError>
    where
        F: Fn(Arc<Link>) -> Fut,
        Fut: Future<Output = Result<T, PublishError>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(3))
            .with_jitter()
            .with_max_times(usize::MAX)
            .with_total_delay(Some(self.outage_tolerance));
        (|| async { op(self.current().await?).await })
            .retry(backoff)
            .when(|e| matches!(e, PublishError::Unavailable(_)))
            .notify(
                |e, wait| tracing::warn!(what, error = %e, ?wait, "RabbitMQ unavailable; retrying"),
            )
            .await
    }
}

/// Keeps the link up while nobody uses it, so readiness recovers on its own;
/// ends when the bus is dropped.
async fn supervise(bus: Weak<RabbitMqBus>) {
    loop {
        tokio::time::sleep(SUPERVISE_EVERY).await;
        let Some(bus) = bus.upgrade() else { return };
        let _ = bus.current().await;
    }
}

/// A new connection with the topology declared and confirms enabled.
async fn open(
    settings: &RabbitMqSettings,
    url: &str,
    consumes: bool,
) -> Result<Link, PublishError> {
    let properties = ConnectionProperties::default().with_connection_name(SERVICE_NAME.into());
    let connection = Connection::connect(url, properties)
        .await
        .map_err(|e| unavailable("cannot connect to RabbitMQ", e))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| unavailable("cannot open a channel", e))?;
    declare_topology(&channel, settings, consumes).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| unavailable("cannot enable publisher confirms", e))?;
    Ok(Link {
        connection,
        channel,
    })
}

/// The exchanges and the dead-letter queue always; the service queue and its
/// bindings only for a process that consumes it (a queue nobody reads would
/// keep every event it is bound to).
async fn declare_topology(
    channel: &Channel,
    s: &RabbitMqSettings,
    consumes: bool,
) -> Result<(), PublishError> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let exchange = format!("exchange '{}'", s.exchange);
    channel
        .exchange_declare(
            s.exchange.as_str().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .map_err(|e| declare_failed(&exchange, "topic, durable", e))?;
    let dead_letters = format!("dead-letter exchange '{}'", s.dead_letter_exchange);
    channel
        .exchange_declare(
            s.dead_letter_exchange.as_str().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .map_err(|e| declare_failed(&dead_letters, "topic, durable", e))?;
    // No arguments but a test-only expiry: the first implementation declared
    // the service queue durable with none, and the broker refuses a second
    // declaration that differs. Rejected messages are dead-lettered by the
    // consumer itself, with the reason, so the queue needs no DLX argument.
    let mut arguments = FieldTable::default();
    let mut ours = "durable, no arguments";
    if !s.queue_expires.is_zero() {
        arguments.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(s.queue_expires.as_millis() as i64),
        );
        ours = "durable, x-expires";
    }
    let dlq = format!("dead-letter queue '{}'", s.dead_letter_queue);
    channel
        .queue_declare(
            s.dead_letter_queue.as_str().into(),
            QueueDeclareOptions::durable(),
            arguments.clone(),
        )
        .await
        .map_err(|e| declare_failed(&dlq, ours, e))?;
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
    if !consumes {
        return Ok(());
    }
    let queue = format!("queue '{}'", s.queue);
    channel
        .queue_declare(
            s.queue.as_str().into(),
            QueueDeclareOptions::durable(),
            arguments,
        )
        .await
        .map_err(|e| declare_failed(&queue, ours, e))?;
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
        props = props.with_correlation_id(correlation_id.to_string().into());
    }
    props
}

/// Writes `events` to the channel in one go, then awaits their confirms.
async fn publish_on(
    channel: &Channel,
    exchange: &ShortString,
    events: &[OutboundEvent],
) -> Result<(), PublishError> {
    let confirms = hand_over(channel, exchange, events).await?;
    confirmed(confirms).await
}

/// Writes `events` to the channel (in order) and returns their pending confirms.
///
/// lapin's `basic_publish` queues a message's frames for its I/O thread in
/// its first poll, then waits until that thread has written them. Awaited one
/// after the other, every message cost a hand-off to that thread and back
/// and a socket write of its own. Each publish is polled once as it is made,
/// so every frame of the page is queued, in the page's order, before any
/// write is waited for; the I/O thread then writes them in few large writes.
async fn hand_over(
    channel: &Channel,
    exchange: &ShortString,
    events: &[OutboundEvent],
) -> Result<Vec<PublisherConfirm>, PublishError> {
    let mut handing = Vec::with_capacity(events.len());
    for event in events {
        let mut publish = Box::pin(maybe_done(channel.basic_publish(
            exchange.clone(),
            event.event_type.into(),
            BasicPublishOptions::default(),
            &event.body,
            properties(event),
        )));
        // Queues this message's frames after the previous one's.
        let _ = futures::poll!(publish.as_mut());
        handing.push(publish);
    }
    join_all(handing.iter_mut().map(|publish| publish.as_mut())).await;
    handing
        .iter_mut()
        .map(|publish| {
            publish
                .as_mut()
                .take_output()
                .expect("every publish completed")
                .map_err(|e| unavailable("publish failed", e))
        })
        .collect()
}

/// Waits for every confirm; a negative one is the broker's refusal.
async fn confirmed(confirms: Vec<PublisherConfirm>) -> Result<(), PublishError> {
    let total = confirms.len();
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
        refused => Err(PublishError::Nacked { refused, total }),
    }
}

#[async_trait]
impl EventBus for RabbitMqBus {
    /// Through an outage the whole slice is published again on the new
    /// connection: what the old one had confirmed goes out twice, with the
    /// same ids (at least once).
    async fn publish(&self, events: &[OutboundEvent]) -> Result<(), PublishError> {
        let exchange = &self.exchange;
        self.with_link("publish", |link| async move {
            publish_on(&link.channel, exchange, events).await
        })
        .await
    }

    /// On the live link, without waiting an outage out: a caller whose send
    /// or confirms fail publishes again through [`publish`](Self::publish).
    async fn send(&self, events: Arc<[OutboundEvent]>) -> Result<Confirming, PublishError> {
        let link = self.current().await?;
        let confirms = hand_over(&link.channel, &self.exchange, &events).await?;
        Ok(Box::pin(async move {
            // The link stays open until its confirms are in.
            let _link = link;
            confirmed(confirms).await
        }))
    }

    async fn dead_letter(
        &self,
        body: &[u8],
        routing_key: &str,
        reason: &str,
    ) -> Result<(), PublishError> {
        let props = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_headers(dead_letters::failure_headers(reason));
        let exchange = &self.dead_letter_exchange;
        self.with_link("dead-letter", |link| {
            let props = props.clone();
            async move {
                let confirm = link
                    .channel
                    .basic_publish(
                        exchange.clone(),
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
        })
        .await
    }

    async fn health(&self) -> Result<(), PublishError> {
        match self.link.read().await.as_ref() {
            Some(link) if link.is_up() => Ok(()),
            _ => Err(PublishError::Unavailable(
                "not connected to RabbitMQ (reconnecting)".into(),
            )),
        }
    }
}
