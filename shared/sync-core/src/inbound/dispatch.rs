//! Routing a consumed message to its handler, with idempotency and a clear
//! split between failures worth retrying and messages to set aside.

use std::sync::Arc;

use serde_json::Value;

use super::{
    mapping,
    outcome::Outcome,
    processed::ProcessedEvents,
    token::{RefreshOutcome, TokenRefresher},
};
use crate::{
    domain::{
        Direction, TenantId,
        events::{
            EventEnvelope, EventFactory, EventMetadata, EventType, ShardUpdated,
            TokenRefreshFailed, TokenRefreshed,
            consumed::{MappingResult, RefreshRequested, RunRequested, SyncRequested},
        },
        time,
    },
    engine::{SyncEngine, TriggerError, TriggerRequest},
    ports::{BoxError, EventBus, StoreError, Transience},
    repository::Repository,
};

#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// Done; the outcome says what happened.
    Done(Outcome),
    /// This event id was handled before: nothing done again.
    Duplicate,
}

/// Why an event was not handled, with the failure that said so (its source
/// chain kept). Which of the two is decided by [`Transience`], the rule the
/// API and the functions read too.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Never processable (malformed, unexpected type, permanent refusal):
    /// dead-letter it with the reason and acknowledge it.
    #[error("rejected: {0}")]
    Rejected(#[source] BoxError),
    /// A dependency failed; retrying later may work.
    #[error("transient: {0}")]
    Transient(#[source] BoxError),
}

impl HandleError {
    /// A message that can never be processed, and why.
    pub fn rejected(reason: impl Into<String>) -> Self {
        HandleError::Rejected(reason.into().into())
    }

    /// Sorts a failure by the one rule.
    pub fn from_failure<E>(failure: E) -> Self
    where
        E: Transience + std::error::Error + Send + Sync + 'static,
    {
        if failure.is_transient() {
            HandleError::Transient(Box::new(failure))
        } else {
            HandleError::Rejected(Box::new(failure))
        }
    }
}

impl Transience for HandleError {
    fn is_transient(&self) -> bool {
        matches!(self, HandleError::Transient(_))
    }
}

impl From<StoreError> for HandleError {
    fn from(e: StoreError) -> Self {
        // Bookkeeping (the processed marker, counters) failing is the store's
        // outage, never the message's fault: retry it.
        HandleError::Transient(Box::new(e))
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
            .map_err(|e| HandleError::rejected(format!("not an event envelope: {e}")))?;
        tracing::Span::current().record("routing_key", envelope.event_type.as_str());
        let event_type = EventType::consumed(&envelope.event_type)
            .filter(|t| accepted.contains(t))
            .ok_or_else(|| {
                HandleError::rejected(format!(
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
                &outcome.to_string(),
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
            .map_err(|e| HandleError::Transient(Box::new(e)))
    }

    async fn dispatch(
        &self,
        event_type: EventType,
        envelope: &EventEnvelope<Value>,
    ) -> Result<Outcome, HandleError> {
        let tenant = envelope.tenant_id;
        match event_type {
            EventType::ShardUpdated => {
                let event = ShardUpdated::from_envelope(envelope)
                    .map_err(|e| HandleError::rejected(format!("unexpected data: {e}")))?;
                let outcome = self
                    .engine
                    .handle_shard_updated(event)
                    .await
                    .map_err(HandleError::from_failure)?;
                Ok(Outcome::Outbound(outcome))
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
                    Ok(task) => Ok(Outcome::TaskStarted {
                        task_id: task.task_id,
                    }),
                    // The next schedule or webhook comes; a limit is not a failure.
                    Err(TriggerError::Limited(why)) => Ok(Outcome::NotStarted(why)),
                    Err(e) => Err(HandleError::from_failure(e)),
                }
            }
            EventType::SyncRunRequested => {
                let data: RunRequested = parse(&envelope.data)?;
                let result = self
                    .engine
                    .take_up(tenant, data.task_id)
                    .await
                    .map_err(HandleError::from_failure)?;
                Ok(Outcome::TakeUp {
                    task_id: data.task_id,
                    result,
                })
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
                    Outcome::MappingCounted
                } else {
                    Outcome::MappingTaskUnknown
                })
            }
            other => Err(HandleError::rejected(format!("no handler for `{other}`"))),
        }
    }

    async fn refresh_token(
        &self,
        tenant: TenantId,
        data: &RefreshRequested,
        envelope: &EventEnvelope<Value>,
    ) -> Result<Outcome, HandleError> {
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
            RefreshOutcome::AlreadyInProgress => return Ok(Outcome::Token(outcome)),
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
            .map_err(HandleError::from_failure)?;
        Ok(Outcome::Token(outcome))
    }
}

fn parse<T: serde::de::DeserializeOwned>(data: &Value) -> Result<T, HandleError> {
    serde_json::from_value(data.clone())
        .map_err(|e| HandleError::rejected(format!("unexpected data: {e}")))
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::{engine::outbound::OutboundError, ports::ProviderError};

    #[test]
    fn a_failure_is_sorted_by_the_one_rule_and_kept_whole() {
        let busy = HandleError::from_failure(OutboundError::Provider(ProviderError::RateLimited {
            retry_after: None,
        }));
        assert!(busy.is_transient());
        let refused =
            HandleError::from_failure(OutboundError::Provider(ProviderError::Unauthorized));
        assert!(!refused.is_transient());
        let HandleError::Rejected(failure) = refused else {
            panic!("an unauthorized push is never worth retrying");
        };
        assert!(matches!(
            failure.downcast_ref::<OutboundError>(),
            Some(OutboundError::Provider(ProviderError::Unauthorized))
        ));
    }

    #[test]
    fn a_bookkeeping_store_failure_is_retried_with_its_cause() {
        let error = HandleError::from(StoreError::NotFound);
        assert!(error.is_transient());
        assert!(error.source().is_some_and(|s| s.is::<StoreError>()));
    }
}
