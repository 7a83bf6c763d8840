//! The catalogue: every event type this service publishes or consumes, with
//! the routing keys it goes out and arrives under.
//!
//! Published names pass the platform's envelope rule (three lowercase
//! segments, see [`super::platform_rule`]); a test holds every one of them to
//! it. Consumed events are accepted under the platform's own names, some of
//! which its rule rejects (`shard.updated`, `…refresh-requested`,
//! `…mapping.failed`), and under a rule-conforming spelling, so the service
//! keeps working on the day the platform renames them.

/// One event type of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    SyncStarted,
    SyncCompleted,
    SyncFailed,
    SyncCancelled,
    DataRaw,
    /// Off by default; its routing key is configurable (`mapping.batch_event_type`).
    DataRawBatch,
    DataDeleted,
    ConflictDetected,
    DataSynced,
    SyncCheckDue,
    TokenCheckExpiring,
    TokenRefreshed,
    TokenRefreshFailed,
    /// Ours both ways: a run handed to the function that owns runs (a
    /// trigger through the HTTP API, or a run that reached its invocation's
    /// deadline). Published and consumed by this service only.
    SyncRunRequested,
    ShardUpdated,
    SyncScheduled,
    WebhookReceived,
    TokenRefreshRequested,
    DataMapped,
    DataMappingFailed,
}

impl EventType {
    /// Every type this service publishes.
    pub const PUBLISHED: [EventType; 14] = [
        EventType::SyncStarted,
        EventType::SyncCompleted,
        EventType::SyncFailed,
        EventType::SyncCancelled,
        EventType::DataRaw,
        EventType::DataRawBatch,
        EventType::DataDeleted,
        EventType::ConflictDetected,
        EventType::DataSynced,
        EventType::SyncCheckDue,
        EventType::TokenCheckExpiring,
        EventType::TokenRefreshed,
        EventType::TokenRefreshFailed,
        EventType::SyncRunRequested,
    ];

    /// Every type this service consumes.
    pub const CONSUMED: [EventType; 7] = [
        EventType::ShardUpdated,
        EventType::SyncScheduled,
        EventType::WebhookReceived,
        EventType::TokenRefreshRequested,
        EventType::DataMapped,
        EventType::DataMappingFailed,
        EventType::SyncRunRequested,
    ];

    /// The name: the routing key a published type goes out under (for
    /// `DataRawBatch`, the default of a configurable one), or the platform's
    /// own name for a consumed type.
    pub const fn name(self) -> &'static str {
        match self {
            EventType::SyncStarted => "integration.sync.started",
            EventType::SyncCompleted => "integration.sync.completed",
            EventType::SyncFailed => "integration.sync.failed",
            EventType::SyncCancelled => "integration.sync.cancelled",
            EventType::DataRaw => "integration.data.raw",
            EventType::DataRawBatch => "integration.data.raw_batch",
            EventType::DataDeleted => "integration.data.deleted",
            EventType::ConflictDetected => "integration.conflict.detected",
            EventType::DataSynced => "integration.data.synced",
            // integration-manager binds this one (IntegrationManagerEventConsumer.ts).
            EventType::SyncCheckDue => "integration.sync.check_due",
            // integration-manager binds `…check-expiring`, which its own rule rejects.
            EventType::TokenCheckExpiring => "integration.token.check_expiring",
            EventType::TokenRefreshed => "integration.token.refreshed",
            EventType::TokenRefreshFailed => "integration.token.refresh_failed",
            EventType::SyncRunRequested => "integration.sync.run_requested",
            EventType::ShardUpdated => "shard.updated",
            EventType::SyncScheduled => "integration.sync.scheduled",
            EventType::WebhookReceived => "integration.webhook.received",
            EventType::TokenRefreshRequested => "integration.token.refresh-requested",
            EventType::DataMapped => "integration.data.mapped",
            EventType::DataMappingFailed => "integration.data.mapping.failed",
        }
    }

    /// The rule-conforming spelling a consumed type is also accepted under,
    /// where the platform's own name breaks its rule.
    pub const fn conforming_alias(self) -> Option<&'static str> {
        match self {
            // Module `shard`, resource `shard`, as shard-manager's `shard.type.updated`.
            EventType::ShardUpdated => Some("shard.shard.updated"),
            EventType::TokenRefreshRequested => Some("integration.token.refresh_requested"),
            EventType::DataMappingFailed => Some("integration.data.mapping_failed"),
            _ => None,
        }
    }

    pub fn is_published(self) -> bool {
        Self::PUBLISHED.contains(&self)
    }

    /// Whether a webhook may subscribe to it: every type published about a
    /// tenant's data and syncs (the timers' ticks concern no tenant, and a
    /// run handed on is this service's own business).
    pub fn is_subscribable(self) -> bool {
        self.is_published()
            && !matches!(
                self,
                EventType::SyncCheckDue
                    | EventType::TokenCheckExpiring
                    | EventType::SyncRunRequested
            )
    }

    /// The types a webhook may subscribe to, in catalogue order.
    pub fn subscribable() -> impl Iterator<Item = EventType> {
        Self::PUBLISHED.into_iter().filter(|t| t.is_subscribable())
    }

    /// Every routing key a consumed type arrives under.
    pub fn routing_keys(self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.name()).chain(self.conforming_alias())
    }

    /// The consumed type a routing key names, under either spelling.
    pub fn consumed(routing_key: &str) -> Option<EventType> {
        Self::CONSUMED
            .into_iter()
            .find(|t| t.routing_keys().any(|k| k == routing_key))
    }

    /// The published type of a name (for stored outbox entries).
    pub fn published(name: &str) -> Option<EventType> {
        Self::PUBLISHED.into_iter().find(|t| t.name() == name)
    }

    /// Every routing key of `types`, both spellings (queue bindings).
    pub fn bindings(types: &[EventType]) -> Vec<&'static str> {
        types.iter().flat_map(|t| t.routing_keys()).collect()
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::platform_rule::type_passes;

    #[test]
    fn every_published_name_passes_the_platform_rule() {
        for t in EventType::PUBLISHED {
            assert!(type_passes(t.name()), "{t} breaks the platform's rule");
        }
    }

    #[test]
    fn every_consumed_type_has_a_rule_conforming_spelling() {
        for t in EventType::CONSUMED {
            assert!(
                t.routing_keys().any(type_passes),
                "{t} is accepted under no name the platform's rule allows"
            );
        }
    }

    #[test]
    fn a_consumed_event_is_recognised_under_both_spellings() {
        assert_eq!(
            EventType::consumed("integration.data.mapping.failed"),
            Some(EventType::DataMappingFailed)
        );
        assert_eq!(
            EventType::consumed("integration.data.mapping_failed"),
            Some(EventType::DataMappingFailed)
        );
        assert_eq!(
            EventType::consumed("shard.shard.updated"),
            Some(EventType::ShardUpdated)
        );
        assert_eq!(EventType::consumed("integration.sync.started"), None);
    }

    #[test]
    fn names_are_unique_across_the_catalogue() {
        // A type both published and consumed (a handed-on run) counts once.
        let consumed_only: Vec<EventType> = EventType::CONSUMED
            .into_iter()
            .filter(|t| !t.is_published())
            .collect();
        let mut names: Vec<&str> = EventType::PUBLISHED
            .iter()
            .map(|t| t.name())
            .chain(EventType::bindings(&consumed_only))
            .collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all);
    }
}
