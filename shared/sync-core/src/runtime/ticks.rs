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
            // Shutdown first: a tick due at the same moment must not start.
            biased;
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => tick().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use tokio_util::sync::CancellationToken;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_step_runs_at_once_then_once_a_period_until_shutdown() {
        let ran = Arc::new(AtomicU32::new(0));
        let shutdown = CancellationToken::new();
        let ticking = tokio::spawn({
            let (ran, shutdown) = (ran.clone(), shutdown.clone());
            async move {
                every(Duration::from_secs(60), shutdown, || async {
                    ran.fetch_add(1, Ordering::SeqCst);
                })
                .await
            }
        });
        tokio::time::sleep(Duration::from_secs(150)).await;
        assert_eq!(ran.load(Ordering::SeqCst), 3, "at 0, 60 and 120 seconds");
        shutdown.cancel();
        ticking.await.unwrap();
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(ran.load(Ordering::SeqCst), 3, "nothing after shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_step_delays_the_next_instead_of_bunching_them() {
        let started = Arc::new(std::sync::Mutex::new(Vec::new()));
        let shutdown = CancellationToken::new();
        let origin = tokio::time::Instant::now();
        let ticking = tokio::spawn({
            let (started, shutdown) = (started.clone(), shutdown.clone());
            async move {
                every(Duration::from_secs(10), shutdown, || {
                    let started = started.clone();
                    async move {
                        started.lock().unwrap().push(origin.elapsed().as_secs());
                        tokio::time::sleep(Duration::from_secs(25)).await;
                    }
                })
                .await
            }
        });
        tokio::time::sleep(Duration::from_secs(80)).await;
        shutdown.cancel();
        ticking.await.unwrap();
        assert_eq!(*started.lock().unwrap(), vec![0, 25, 50, 75]);
    }
}
