//! The dead-letter queue for an operator: what is in it (reason, age,
//! routing key) and a way back for what should be tried again.
//!
//! RabbitMQ cannot browse a queue, so a [`DeadLetterSession`] takes the
//! messages off it one by one *without acknowledging them*: they are held by
//! the session, and whatever it does not replay goes back to the queue, in
//! its place, when the session releases them (or its connection ends, or the
//! process dies). A replayed message is acknowledged only after the broker
//! confirmed its republication, so a message that could not be replayed is
//! never lost.
//!
//! Replays go, by default, through an exchange of the service's own
//! (`<dead_letter_exchange>.replay`, bound to the service queue with `#`)
//! under the message's original routing key: only this service receives it
//! again, and its consumer reads the routing key as it did the first time. A
//! deployment whose consumers are bound to the platform's exchange (the
//! functions, each on a queue of its own) replays to that exchange instead;
//! every subscriber of the key then sees the event again (the event id is
//! unchanged, so idempotent consumers ignore it).

use chrono::{DateTime, TimeZone, Utc};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
    message::BasicGetMessage,
    options::{
        BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
        ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    },
    types::{AMQPValue, FieldTable, LongString},
};
use sha2::{Digest, Sha256};

use sync_core::config::RabbitMqSettings;

use crate::PERSISTENT;

/// Header carrying why the service set a message aside.
pub const FAILURE_REASON: &str = "x-failure-reason";
/// Header carrying when (milliseconds since the epoch).
pub const DEAD_LETTERED_AT: &str = "x-dead-lettered-at";
/// Header a replayed message carries: how many times it was replayed.
pub const REPLAYED: &str = "x-replayed";

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("cannot reach RabbitMQ: {0}")]
    Connect(String),
    #[error("cannot read the dead-letter queue '{queue}': {cause}")]
    Read { queue: String, cause: String },
    #[error("cannot replay {id}: {cause} (it stays in the dead-letter queue)")]
    Replay { id: String, cause: String },
}

/// One message held from the dead-letter queue.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The AMQP message id, else the envelope's `id`, else a digest of the body.
    pub id: String,
    pub routing_key: String,
    /// The envelope's `type`, when the body is one.
    pub event_type: Option<String>,
    /// Ours (`x-failure-reason`) or the broker's (`x-death`).
    pub reason: Option<String>,
    pub dead_lettered_at: Option<DateTime<Utc>>,
    /// Every header, as text.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    properties: BasicProperties,
    delivery_tag: u64,
}

/// Messages held from the dead-letter queue (see the module documentation).
pub struct DeadLetterSession {
    connection: Connection,
    channel: Channel,
    queue: String,
    replay_exchange: String,
    held: Vec<u64>,
}

impl DeadLetterSession {
    /// Connects, declares the replay exchange and its binding (idempotent).
    pub async fn open(url: &str, settings: &RabbitMqSettings) -> Result<Self, DeadLetterError> {
        let connect = |e: lapin::Error| DeadLetterError::Connect(e.to_string());
        let properties = ConnectionProperties::default()
            .with_connection_name("integration-sync dead-letter tool".into());
        let connection = Connection::connect(url, properties)
            .await
            .map_err(connect)?;
        let channel = connection.create_channel().await.map_err(connect)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(connect)?;
        let replay_exchange = replay_exchange(settings);
        channel
            .exchange_declare(
                replay_exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(connect)?;
        channel
            .queue_bind(
                settings.queue.as_str().into(),
                replay_exchange.as_str().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(connect)?;
        Ok(DeadLetterSession {
            connection,
            channel,
            queue: settings.dead_letter_queue.clone(),
            replay_exchange,
            held: Vec::new(),
        })
    }

    /// The exchange replays go to unless told otherwise.
    pub fn replay_exchange(&self) -> &str {
        &self.replay_exchange
    }

    /// Takes up to `limit` messages off the queue, holding them unacknowledged.
    pub async fn hold(&mut self, limit: usize) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let mut letters = Vec::new();
        while letters.len() < limit {
            let got = self
                .channel
                .basic_get(
                    self.queue.as_str().into(),
                    BasicGetOptions { no_ack: false },
                )
                .await
                .map_err(|e| DeadLetterError::Read {
                    queue: self.queue.clone(),
                    cause: e.to_string(),
                })?;
            let Some(message) = got else { break };
            let letter = DeadLetter::from_message(message);
            self.held.push(letter.delivery_tag);
            letters.push(letter);
        }
        Ok(letters)
    }

    /// Republishes `letter` to `exchange` under its routing key and, once the
    /// broker confirmed it, removes it from the dead-letter queue.
    pub async fn replay(
        &mut self,
        letter: &DeadLetter,
        exchange: &str,
    ) -> Result<(), DeadLetterError> {
        let failed = |cause: String| DeadLetterError::Replay {
            id: letter.id.clone(),
            cause,
        };
        let confirm = self
            .channel
            .basic_publish(
                exchange.into(),
                letter.routing_key.as_str().into(),
                // Unroutable comes back as a return, not a silent drop.
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &letter.body,
                letter.replay_properties(),
            )
            .await
            .map_err(|e| failed(e.to_string()))?
            .await
            .map_err(|e| failed(e.to_string()))?;
        match confirm {
            Confirmation::Ack(None) => {}
            Confirmation::Ack(Some(returned)) => {
                return Err(failed(format!(
                    "the broker returned it ({})",
                    returned.reply_text
                )));
            }
            other => return Err(failed(format!("the broker refused it ({other:?})"))),
        }
        self.channel
            .basic_ack(letter.delivery_tag, BasicAckOptions::default())
            .await
            .map_err(|e| failed(format!("replayed, but not removed: {e}")))?;
        self.held.retain(|tag| *tag != letter.delivery_tag);
        Ok(())
    }

    /// Puts every message not replayed back on the queue and ends the session.
    pub async fn release(self) {
        for tag in &self.held {
            let requeue = BasicNackOptions {
                requeue: true,
                multiple: false,
            };
            if self.channel.basic_nack(*tag, requeue).await.is_err() {
                break; // The channel is gone: the broker requeued them all.
            }
        }
        let _ = self.channel.close(200, "done".into()).await;
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// `<dead_letter_exchange>.replay`.
pub fn replay_exchange(settings: &RabbitMqSettings) -> String {
    format!("{}.replay", settings.dead_letter_exchange)
}

impl DeadLetter {
    fn from_message(message: BasicGetMessage) -> Self {
        let delivery = message.delivery;
        let properties = delivery.properties.clone();
        let headers: Vec<(String, String)> = properties
            .headers()
            .as_ref()
            .map(|table| {
                table
                    .inner()
                    .iter()
                    .map(|(k, v)| (k.to_string(), text_of(v)))
                    .collect()
            })
            .unwrap_or_default();
        let header = |name: &str| {
            properties
                .headers()
                .as_ref()
                .and_then(|t| t.inner().get(name).cloned())
        };
        let envelope: Option<serde_json::Value> = serde_json::from_slice(&delivery.data).ok();
        let envelope_field = |name: &str| {
            envelope
                .as_ref()
                .and_then(|e| e.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let id = properties
            .message_id()
            .as_ref()
            .map(|m| m.to_string())
            .or_else(|| envelope_field("id"))
            .unwrap_or_else(|| {
                let digest = Sha256::digest(&delivery.data);
                format!("sha256:{}", &hex::encode(digest)[..16])
            });
        let death = header("x-death").and_then(|d| first_death(&d));
        let reason = header(FAILURE_REASON)
            .map(|v| text_of(&v))
            .or_else(|| death.as_ref().and_then(|d| d.0.clone()));
        let dead_lettered_at = header(DEAD_LETTERED_AT)
            .and_then(|v| integer_of(&v))
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .or_else(|| death.and_then(|d| d.1));
        DeadLetter {
            id,
            routing_key: delivery.routing_key.to_string(),
            event_type: envelope_field("type"),
            reason,
            dead_lettered_at,
            headers,
            body: delivery.data,
            properties,
            delivery_tag: delivery.delivery_tag,
        }
    }

    /// The message as it was, without the failure it met, marked replayed.
    fn replay_properties(&self) -> BasicProperties {
        let mut headers = self.properties.headers().clone().unwrap_or_default();
        let replays = headers
            .inner()
            .get(REPLAYED)
            .and_then(integer_of)
            .unwrap_or(0);
        let mut kept = FieldTable::default();
        for (key, value) in headers.inner() {
            let key = key.as_str();
            if key != FAILURE_REASON && key != DEAD_LETTERED_AT && key != "x-death" {
                kept.insert(key.into(), value.clone());
            }
        }
        kept.insert(REPLAYED.into(), AMQPValue::LongLongInt(replays + 1));
        headers = kept;
        self.properties
            .clone()
            .with_headers(headers)
            .with_delivery_mode(PERSISTENT)
    }
}

/// The broker's own dead-lettering (`x-death`): its first entry's reason and time.
fn first_death(value: &AMQPValue) -> Option<(Option<String>, Option<DateTime<Utc>>)> {
    let AMQPValue::FieldArray(deaths) = value else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    let reason = first.inner().get("reason").map(text_of);
    let time = first.inner().get("time").and_then(|t| match t {
        AMQPValue::Timestamp(seconds) => Utc.timestamp_opt(*seconds as i64, 0).single(),
        _ => None,
    });
    Some((reason, time))
}

fn integer_of(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortInt(n) => Some(i64::from(*n)),
        AMQPValue::Timestamp(n) => i64::try_from(*n).ok(),
        _ => None,
    }
}

fn text_of(value: &AMQPValue) -> String {
    match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.to_string(),
        other => format!("{other:?}"),
    }
}

/// The headers our consumer's dead-lettering adds.
pub(crate) fn failure_headers(reason: &str) -> FieldTable {
    let mut headers = FieldTable::default();
    let reason: String = reason.chars().take(1000).collect();
    headers.insert(
        FAILURE_REASON.into(),
        AMQPValue::LongString(LongString::from(reason)),
    );
    headers.insert(
        DEAD_LETTERED_AT.into(),
        AMQPValue::LongLongInt(Utc::now().timestamp_millis()),
    );
    headers
}
