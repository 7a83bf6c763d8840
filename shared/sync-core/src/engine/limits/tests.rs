//! Concurrency slots and the minimum interval, over the in-memory store.

use std::sync::Arc;

use super::*;
use crate::testing::MemoryStore;

fn limiter(max: u32, interval_secs: u64) -> (SyncLimiter, ()) {
    let repo = Repository::new(Arc::new(MemoryStore::default()));
    let settings = LimitSettings {
        max_concurrent_per_tenant: max,
        min_interval: Duration::from_secs(interval_secs),
        lease_ttl: Duration::from_secs(60),
    };
    (SyncLimiter::new(repo, settings), ())
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

#[tokio::test]
async fn a_tenant_gets_at_most_its_limit_of_slots_and_a_released_slot_is_reusable() {
    let (limiter, _dir) = limiter(2, 0);
    let tenant = Uuid::new_v4();
    let first = limiter
        .acquire(tenant, "a", Uuid::new_v4(), at(0))
        .await
        .unwrap();
    let _second = limiter
        .acquire(tenant, "b", Uuid::new_v4(), at(0))
        .await
        .unwrap();
    let third = limiter.acquire(tenant, "c", Uuid::new_v4(), at(0)).await;
    assert!(matches!(
        third,
        Err(LimitError::Rejected(LimitRejection::TooManyConcurrent {
            limit: 2
        }))
    ));
    // Another tenant is not affected.
    limiter
        .acquire(Uuid::new_v4(), "a", Uuid::new_v4(), at(0))
        .await
        .unwrap();
    limiter.release(&first).await;
    limiter
        .acquire(tenant, "c", Uuid::new_v4(), at(1))
        .await
        .expect("slot freed");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_its_holder_learns_it_lost_it() {
    let (limiter, _dir) = limiter(1, 0);
    let tenant = Uuid::new_v4();
    let crashed = limiter
        .acquire(tenant, "a", Uuid::new_v4(), at(0))
        .await
        .unwrap();
    assert!(
        limiter
            .acquire(tenant, "b", Uuid::new_v4(), at(59))
            .await
            .is_err(),
        "still leased"
    );
    let successor = limiter
        .acquire(tenant, "b", Uuid::new_v4(), at(61))
        .await
        .expect("expired lease reclaimed");
    assert!(
        !limiter.renew(&crashed, at(62)).await.unwrap(),
        "the old holder lost it"
    );
    assert!(limiter.renew(&successor, at(62)).await.unwrap());
    // Releasing a lost lease does not free the successor's slot.
    limiter.release(&crashed).await;
    assert!(
        limiter
            .acquire(tenant, "c", Uuid::new_v4(), at(63))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_heartbeat_keeps_a_long_run_leased() {
    let (limiter, _dir) = limiter(1, 0);
    let tenant = Uuid::new_v4();
    let lease = limiter
        .acquire(tenant, "a", Uuid::new_v4(), at(0))
        .await
        .unwrap();
    assert!(limiter.renew(&lease, at(50)).await.unwrap());
    assert!(
        limiter
            .acquire(tenant, "b", Uuid::new_v4(), at(100))
            .await
            .is_err(),
        "renewed until 110"
    );
}

#[tokio::test]
async fn an_integration_synced_recently_is_refused_with_the_time_left() {
    let (limiter, _dir) = limiter(3, 300);
    let tenant = Uuid::new_v4();
    let lease = limiter
        .acquire(tenant, "int-1", Uuid::new_v4(), at(0))
        .await
        .unwrap();
    limiter.release(&lease).await;
    let refused = limiter
        .acquire(tenant, "int-1", Uuid::new_v4(), at(120))
        .await;
    match refused {
        Err(LimitError::Rejected(LimitRejection::TooSoon { retry_after, .. })) => {
            assert_eq!(retry_after, Duration::from_secs(180));
        }
        other => panic!("expected TooSoon, got {other:?}"),
    }
    // The refused trigger gave its slot back: three more integrations still fit.
    for name in ["x", "y", "z"] {
        limiter
            .acquire(tenant, name, Uuid::new_v4(), at(121))
            .await
            .unwrap();
    }
    let after = limiter
        .acquire(Uuid::new_v4(), "int-1", Uuid::new_v4(), at(300))
        .await;
    assert!(after.is_ok(), "other tenants have their own marks");
}

#[tokio::test]
async fn racing_claims_never_hand_out_more_slots_than_the_limit() {
    let (limiter, _dir) = limiter(3, 0);
    let tenant = Uuid::new_v4();
    let attempts = (0..20).map(|i| {
        let limiter = limiter.clone();
        tokio::spawn(async move {
            limiter
                .acquire(tenant, &format!("int-{i}"), Uuid::new_v4(), at(0))
                .await
        })
    });
    let mut granted = 0;
    for attempt in attempts {
        if attempt.await.unwrap().is_ok() {
            granted += 1;
        }
    }
    assert_eq!(granted, 3);
}
