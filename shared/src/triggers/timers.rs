//! The two timers' events: asking integration-manager which integrations are
//! due for a sync, and which tokens are about to expire. They concern every
//! tenant, so their envelope carries the nil tenant.

use std::time::Duration;

use crate::domain::{
    events::{CheckDue, CheckExpiring, EventFactory, EventMetadata, EventType, OutboundEvent},
    time,
};

/// Publishes `make()` every `period` until `shutdown`; a failed publish is
/// logged and tried again at the next tick.
pub async fn run_timer(
    name: &'static str,
    bus: std::sync::Arc<dyn crate::ports::EventBus>,
    period: Duration,
    make: impl Fn() -> OutboundEvent + Send,
    shutdown: tokio_util::sync::CancellationToken,
) {
    every(period, shutdown, || async {
        if let Err(e) = bus.publish(&[make()]).await {
            tracing::warn!(timer = name, error = %e, "timer event not published");
        }
    })
    .await
}

/// Runs `tick` now and then every `period` (a slow tick delays the next one
/// rather than bunching them) until `shutdown`.
pub async fn every<F, Fut>(
    period: Duration,
    shutdown: tokio_util::sync::CancellationToken,
    mut tick: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => tick().await,
        }
    }
}

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
