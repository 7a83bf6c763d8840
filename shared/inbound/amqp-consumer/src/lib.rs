//! The container's consumer of the service queue: manual acknowledgements with
//! a prefetch window, each message handed to the [`EventDispatcher`], transient
//! failures retried with backoff, and messages that cannot be processed (or
//! still fail after the last attempt) dead-lettered with the reason, then
//! acknowledged. On shutdown it stops taking messages and drains those in flight.
//! A lost connection or channel is survived: it consumes again once the bus
//! has reconnected.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use lapin::{
    Channel,
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    },
    types::FieldTable,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use bus_rabbitmq::RabbitMqBus;
use sync_core::inbound::{EventDispatcher, HandleError, Handled, consumes};

/// Pauses between consuming sessions after a loss (doubling up to the max).
const RECONNECT_MIN: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub queue: String,
    pub prefetch: u16,
    pub attempts: u32,
    pub backoff: Duration,
}

pub struct RabbitMqConsumer {
    bus: Arc<RabbitMqBus>,
    settings: ConsumerSettings,
    dispatcher: EventDispatcher,
}

/// Why one consuming session ended.
enum SessionEnd {
    Shutdown,
    Lost(String),
}

impl RabbitMqConsumer {
    pub fn new(
        bus: Arc<RabbitMqBus>,
        settings: ConsumerSettings,
        dispatcher: EventDispatcher,
    ) -> Self {
        RabbitMqConsumer {
            bus,
            settings,
            dispatcher,
        }
    }

    /// Consumes until `shutdown`, then drains what is in flight. A lost
    /// channel or connection starts a new session on a new channel (the bus
    /// reconnects with backoff); messages whose acknowledgement was lost with
    /// the old channel are redelivered by the broker and recognised as
    /// duplicates by their event id.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let in_flight = TaskTracker::new();
        let mut pause = RECONNECT_MIN;
        loop {
            let session = tokio::select! {
                _ = shutdown.cancelled() => break,
                channel = self.bus.consumer_channel() => match channel {
                    Ok(channel) => self.session(channel, &shutdown, &in_flight).await,
                    Err(e) => SessionEnd::Lost(e.to_string()),
                },
            };
            match session {
                SessionEnd::Shutdown => break,
                SessionEnd::Lost(why) => {
                    tracing::warn!(reason = %why, ?pause, "the consumer lost RabbitMQ; consuming again after a pause");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(RECONNECT_MAX);
                }
            }
        }
        in_flight.close();
        in_flight.wait().await;
        tracing::info!("consumer drained");
        Ok(())
    }

    /// Consumes on one channel until shutdown or until the channel is lost.
    async fn session(
        &self,
        channel: Channel,
        shutdown: &CancellationToken,
        in_flight: &TaskTracker,
    ) -> SessionEnd {
        if let Err(e) = channel
            .basic_qos(self.settings.prefetch, BasicQosOptions::default())
            .await
        {
            return SessionEnd::Lost(e.to_string());
        }
        let tag = format!("integration-sync-{}", uuid::Uuid::new_v4().simple());
        let mut deliveries = match channel
            .basic_consume(
                self.settings.queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
        {
            Ok(deliveries) => deliveries,
            Err(e) => return SessionEnd::Lost(e.to_string()),
        };
        tracing::info!(queue = %self.settings.queue, prefetch = self.settings.prefetch, "consuming");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => {
                        let (dispatcher, settings) = (self.dispatcher.clone(), self.settings.clone());
                        in_flight.spawn(async move { handle_delivery(&dispatcher, &settings, delivery).await });
                    }
                    Some(Err(e)) => return SessionEnd::Lost(e.to_string()),
                    None => return SessionEnd::Lost("the broker cancelled the consumer".into()),
                },
            }
        }
        let _ = channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await;
        SessionEnd::Shutdown
    }
}

/// One message to its end: acknowledged when handled or set aside; requeued
/// only if even setting it aside failed.
pub async fn handle_delivery(
    dispatcher: &EventDispatcher,
    settings: &ConsumerSettings,
    delivery: Delivery,
) {
    let key = delivery.routing_key.to_string();
    let mut attempt = 0;
    let verdict = loop {
        attempt += 1;
        match dispatcher.handle(&delivery.data, consumes::ALL).await {
            Ok(Handled::Done(what)) => break Ok(what.to_string()),
            Ok(Handled::Duplicate) => break Ok("duplicate".to_owned()),
            Err(HandleError::Rejected(reason)) => break Err(reason.to_string()),
            Err(HandleError::Transient(reason)) if attempt < settings.attempts => {
                let wait = settings.backoff * 2u32.saturating_pow(attempt - 1);
                tracing::warn!(routing_key = %key, attempt, ?wait, %reason, "handling failed; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(HandleError::Transient(reason)) => {
                break Err(format!("failed after {attempt} attempts: {reason}"));
            }
        }
    };
    let settled = match verdict {
        Ok(what) => {
            tracing::info!(routing_key = %key, outcome = %what, "event handled");
            true
        }
        Err(reason) => {
            tracing::warn!(routing_key = %key, reason, "event set aside");
            dispatcher
                .reject(&delivery.data, &key, &reason)
                .await
                .is_ok()
        }
    };
    let acked = if settled {
        delivery.ack(BasicAckOptions::default()).await
    } else {
        delivery
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await
    };
    if let Err(e) = acked {
        tracing::error!(error = %e, "acknowledgement failed; the broker will redeliver");
    }
}
