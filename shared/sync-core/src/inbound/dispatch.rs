//! Routing a consumed message to its handler, with idempotency and a clear
//! split between failures worth retrying and messages to set aside.

use std::sync::Arc;

use serde_json::Value;

use super::{
    mapping,
    processed::ProcessedEvents,
    token::{RefreshOutcome, TokenRefresher},
};
use crate::{
    domain::{
        Direction, TenantId,
        events::{
            EventEnvelope, EventFactory, EventMetadata, EventType, ShardUpdated,
            TokenRefreshFailed, TokenRefreshed,
            consumed::{MappingResult, RefreshRequested, SyncRequested},
        },
        time,
    },
    engine::{SyncEngine, TriggerError, TriggerRequest, outbound::OutboundError},
    ports::{DirectoryError, EventBus, ProviderError, StoreError},
    repository::Repository,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Done; the text says what happened.
    Done(String),
    /// This event id was handled before: nothing done again.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Never processable (malformed, unexpected type, permanent refusal):
    /// dead-letter it with the reason and acknowledge it.
    #[error("rejected: {0}")]
    Rejected(String),
    /// A dependency failed; retrying later may work.
    #[error("transient: {0}")]
    Transient(String),
}

impl From<StoreError> for HandleError {
    fn from(e: StoreError) -> Self {
        HandleError::Transient(format!("store: {e}"))
    }
}

#[derive(Clone)]
pub struct EventDispatcher {
    engine: Arc<SyncEngine>,
    repo: Repository,
    bus: Arc<dyn EventBus>,
    events: EventFactory,
    processed: ProcessedEvents,
    tokens: TokenRefresher,
}

impl EventDispatcher {
    pub fn new(
        engine: Arc<SyncEngine>,
        repo: Repository,
        bus: Arc<dyn EventBus>,
        events: EventFactory,
        processed_ttl: std::time::Duration,
        tokens: TokenRefresher,
    ) -> Self {
        let processed = ProcessedEvents::new(repo.clone(), processed_ttl);
        EventDispatcher {
            engine,
            repo,
            bus,
            events,
            processed,
            tokens,
        }
    }

    /// Handles one message body of one of the `accepted` event types (under
    /// either of its spellings).
    #[tracing::instrument(skip_all, fields(routing_key))]
    pub async fn handle(
        &self,
        body: &[u8],
        accepted: &[EventType],
    ) -> Result<Handled, HandleError> {
        let envelope: EventEnvelope<Value> = serde_json::from_slice(body)
            .map_err(|e| HandleError::Rejected(format!("not an event envelope: {e}")))?;
        tracing::Span::current().record("routing_key", envelope.event_type.as_str());
        let event_type = EventType::consumed(&envelope.event_type)
            .filter(|t| accepted.contains(t))
            .ok_or_else(|| {
                HandleError::Rejected(format!(
                    "`{}` is not an event this trigger handles",
                    envelope.event_type
                ))
            })?;
        let event_id = envelope.id.to_string();
        if self.processed.seen(envelope.tenant_id, &event_id).await? {
            tracing::info!(event_id, "event already handled; redelivery ignored");
            return Ok(Handled::Duplicate);
        }
        let outcome = self.dispatch(event_type, &envelope).await?;
        self.processed
            .remember(
                envelope.tenant_id,
                &event_id,
                &envelope.event_type,
                &outcome,
            )
            .await?;
        Ok(Handled::Done(outcome))
    }

    /// Sets a message aside with the reason (the host acknowledges it after).
    pub async fn reject(
        &self,
        body: &[u8],
        routing_key: &str,
        reason: &str,
    ) -> Result<(), HandleError> {
        self.bus
            .dead_letter(body, routing_key, reason)
            .await
            .map_err(|e| HandleError::Transient(format!("dead-lettering failed: {e}")))
    }

    async fn dispatch(
        &self,
        event_type: EventType,
        envelope: &EventEnvelope<Value>,
    ) -> Result<String, HandleError> {
        let tenant = envelope.tenant_id;
        match event_type {
            EventType::ShardUpdated => {
                let event = ShardUpdated::from_envelope(envelope)
                    .map_err(|e| HandleError::Rejected(format!("unexpected data: {e}")))?;
                let outcome = self
                    .engine
                    .handle_shard_updated(event)
                    .await
                    .map_err(outbound_error)?;
                Ok(format!("{outcome:?}"))
            }
            EventType::SyncScheduled | EventType::WebhookReceived => {
                let data: SyncRequested = parse(&envelope.data)?;
                let by = format!(
                    "event:{}:{}",
                    envelope.event_type,
                    data.trigger.as_deref().unwrap_or("-")
                );
                let request = TriggerRequest {
                    integration_id: data.integration_id,
                    direction: Direction::Inbound,
                    // A schedule syncs every enabled mapping; a webhook what it names.
                    entity_type: data.entity_type,
                    filters: data.filters,
                    triggered_by: Some(by),
                };
                match self.engine.trigger(tenant, request).await {
                    Ok(task) => Ok(format!("task {} started", task.task_id)),
                    // The next schedule or webhook comes; a limit is not a failure.
                    Err(TriggerError::Limited(why)) => Ok(format!("not started: {why}")),
                    Err(e @ (TriggerError::DirectoryUnavailable(_) | TriggerError::Store(_))) => {
                        Err(HandleError::Transient(e.to_string()))
                    }
                    Err(e) => Err(HandleError::Rejected(e.to_string())),
                }
            }
            EventType::TokenRefreshRequested => {
                let data: RefreshRequested = parse(&envelope.data)?;
                self.refresh_token(tenant, &data, envelope).await
            }
            EventType::DataMapped | EventType::DataMappingFailed => {
                let data: MappingResult = parse(&envelope.data)?;
                let failed = event_type == EventType::DataMappingFailed;
                let counted = mapping::count(&self.repo, tenant, &data, failed).await?;
                Ok(if counted {
                    "counted".into()
                } else {
                    "task unknown; not counted".into()
                })
            }
            other => Err(HandleError::Rejected(format!("no handler for `{other}`"))),
        }
    }

    async fn refresh_token(
        &self,
        tenant: TenantId,
        data: &RefreshRequested,
        envelope: &EventEnvelope<Value>,
    ) -> Result<String, HandleError> {
        let outcome = self
            .tokens
            .refresh(tenant, &data.integration_id, &data.connection_id)
            .await?;
        let metadata = EventMetadata {
            correlation_id: envelope.metadata.correlation_id,
            causation_id: Some(envelope.id),
            user_id: envelope.metadata.user_id,
        };
        let now = time::format(&time::now());
        let (connection_id, integration_id) = (&data.connection_id, &data.integration_id);
        let event = match &outcome {
            RefreshOutcome::AlreadyInProgress => {
                return Ok("another instance is refreshing this connection".into());
            }
            RefreshOutcome::Refreshed => self.events.build(
                EventType::TokenRefreshed,
                tenant,
                TokenRefreshed {
                    connection_id,
                    integration_id,
                    refreshed_at: now,
                },
                &metadata,
            ),
            RefreshOutcome::Failed(reason) => self.events.build(
                EventType::TokenRefreshFailed,
                tenant,
                TokenRefreshFailed {
                    connection_id,
                    integration_id,
                    error: reason,
                    failed_at: now,
                },
                &metadata,
            ),
        };
        self.bus
            .publish(&[event])
            .await
            .map_err(|e| HandleError::Transient(format!("event bus: {e}")))?;
        Ok(format!("{outcome:?}"))
    }
}

fn parse<T: serde::de::DeserializeOwned>(data: &Value) -> Result<T, HandleError> {
    serde_json::from_value(data.clone())
        .map_err(|e| HandleError::Rejected(format!("unexpected data: {e}")))
}

fn outbound_error(e: OutboundError) -> HandleError {
    match e {
        OutboundError::Provider(
            ProviderError::Transient(_) | ProviderError::RateLimited { .. },
        )
        | OutboundError::Store(_)
        | OutboundError::Publish(_)
        | OutboundError::KeptChanging
        | OutboundError::Directory(DirectoryError::Unavailable(_))
        | OutboundError::Shard(crate::ports::shard_source::ShardError::Unavailable(_)) => {
            HandleError::Transient(e.to_string())
        }
        other => HandleError::Rejected(other.to_string()),
    }
}
