//! Periodic ticks: a step run now and then every period, until shutdown.

use std::time::Duration;

use crate::domain::events::OutboundEvent;

/// Publishes `make()` every `period` until `shutdown`; a failed publish is
/// logged and tried again at the next tick.
pub async fn publish_every(
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
