//! Waiting out a store outage: a run's last writes (its end, its outbox) are
//! worth retrying for a while rather than lost to a blip.

use std::{future::Future, time::Duration};

use backon::{ExponentialBuilder, Retryable};

use crate::ports::store::StoreError;

/// Runs `op` again, with exponential backoff and jitter, while the store is
/// `Unavailable`, for at most `tolerance` of waiting in all. Other errors, and
/// the last `Unavailable`, are returned as they are.
pub(super) async fn through_store_outage<T, F, Fut>(
    tolerance: Duration,
    what: &'static str,
    op: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .with_max_times(usize::MAX)
        .with_total_delay(Some(tolerance));
    op.retry(backoff)
        .when(|e| matches!(e, StoreError::Unavailable(_)))
        .notify(|e, wait| tracing::warn!(what, error = %e, ?wait, "store unavailable; retrying"))
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_outage_shorter_than_the_tolerance_is_waited_out() {
        let calls = AtomicU32::new(0);
        let result = through_store_outage(Duration::from_secs(5), "test", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(StoreError::Unavailable("down".into())),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_longer_outage_fails_with_the_store_error() {
        let result: Result<(), _> =
            through_store_outage(Duration::from_millis(300), "test", || async {
                Err(StoreError::Unavailable("down".into()))
            })
            .await;
        assert!(matches!(result, Err(StoreError::Unavailable(_))));
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> =
            through_store_outage(Duration::from_secs(5), "test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::PreconditionFailed)
            })
            .await;
        assert!(matches!(result, Err(StoreError::PreconditionFailed)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
