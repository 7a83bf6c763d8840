//! Amazon MQ for RabbitMQ event-source batches.
//!
//! Real batches carry `"priority": null` and other nulls that
//! `aws_lambda_events`' `RabbitMqEvent` rejects before a handler could run, so
//! they are read with lenient types of our own. A batch is messages grouped by
//! `"queue::vhost"`, each body base64 in `data`. A message that can never be
//! processed is dead-lettered and the batch goes on; a transient failure fails
//! the batch, which is redelivered whole (handled events are then skipped).

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sync_core::{
    domain::events::EventType,
    inbound::{EventDispatcher, HandleError, Handled},
};

use crate::FunctionError;

const EVENT_SOURCE: &str = "aws:rmq";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MqEvent {
    #[serde(default)]
    rmq_messages_by_queue: BTreeMap<String, Vec<MqMessage>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MqMessage {
    #[serde(default)]
    basic_properties: Option<Value>,
    #[serde(default)]
    redelivered: Option<bool>,
    #[serde(default)]
    data: Option<String>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchReport {
    pub handled: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub redelivered: usize,
}

pub async fn handle_batch(
    dispatcher: &EventDispatcher,
    event: Value,
    consumes: &[EventType],
) -> Result<BatchReport, FunctionError> {
    let source = event
        .get("eventSource")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_owned();
    if source != EVENT_SOURCE {
        return Err(FunctionError::WrongEventSource(source));
    }
    let batch: MqEvent =
        serde_json::from_value(event).map_err(|e| FunctionError::UnknownEvent(e.to_string()))?;
    let mut report = BatchReport::default();
    for (queue, messages) in batch.rmq_messages_by_queue {
        for message in messages {
            if message.redelivered == Some(true) {
                report.redelivered += 1;
            }
            let routing_key = message
                .basic_properties
                .as_ref()
                .and_then(|p| p.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned();
            let body = match message
                .data
                .as_deref()
                .map(|d| base64::engine::general_purpose::STANDARD.decode(d))
            {
                Some(Ok(body)) => body,
                _ => {
                    let raw = message.data.unwrap_or_default().into_bytes();
                    reject(
                        dispatcher,
                        &raw,
                        &routing_key,
                        &format!("message of {queue} has no base64 body"),
                        &mut report,
                    )
                    .await?;
                    continue;
                }
            };
            match dispatcher.handle(&body, consumes).await {
                Ok(Handled::Done(_)) => report.handled += 1,
                Ok(Handled::Duplicate) => report.duplicates += 1,
                Err(HandleError::Rejected(reason)) => {
                    let reason = reason.to_string();
                    reject(dispatcher, &body, &routing_key, &reason, &mut report).await?
                }
                Err(HandleError::Transient(failure)) => {
                    return Err(FunctionError::Transient(failure));
                }
            }
        }
    }
    Ok(report)
}

async fn reject(
    dispatcher: &EventDispatcher,
    body: &[u8],
    routing_key: &str,
    reason: &str,
    report: &mut BatchReport,
) -> Result<(), FunctionError> {
    tracing::warn!(routing_key, reason, "message set aside");
    dispatcher
        .reject(body, routing_key, reason)
        .await
        .map_err(|e| FunctionError::Transient(Box::new(e)))?;
    report.rejected += 1;
    Ok(())
}
