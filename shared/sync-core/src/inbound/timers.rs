//! The two timers' events: asking integration-manager which integrations are
//! due for a sync, and which tokens are about to expire. They concern every
//! tenant, so their envelope carries the nil tenant.

use std::time::Duration;

use crate::domain::{
    events::{CheckDue, CheckExpiring, EventFactory, EventMetadata, EventType, OutboundEvent},
    time,
};

pub fn check_due(events: &EventFactory) -> OutboundEvent {
    let now = time::now();
    events.build(
        EventType::SyncCheckDue,
        uuid::Uuid::nil(),
        CheckDue {
            timestamp: time::format(&now),
        },
        &EventMetadata {
            correlation_id: Some(uuid::Uuid::new_v4()),
            ..Default::default()
        },
    )
}

pub fn check_expiring(events: &EventFactory, threshold: Duration) -> OutboundEvent {
    let now = time::now();
    let threshold_time = now + chrono::Duration::from_std(threshold).unwrap_or_default();
    events.build(
        EventType::TokenCheckExpiring,
        uuid::Uuid::nil(),
        CheckExpiring {
            timestamp: time::format(&now),
            threshold_time: time::format(&threshold_time),
        },
        &EventMetadata {
            correlation_id: Some(uuid::Uuid::new_v4()),
            ..Default::default()
        },
    )
}
