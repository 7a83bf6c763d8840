use std::sync::Arc;

use super::*;
use crate::testing::{MemoryStore, harness};

fn budget(store: &Arc<MemoryStore>, rate: u32, burst: u32) -> StoreBudget {
    let mut settings = harness::settings().providers;
    settings.requests_per_second = rate;
    settings.burst = burst;
    settings.limit_pause = Duration::from_millis(600);
    StoreBudget::new(Repository::new(store.clone()), &settings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sharing_one_budget_never_exceed_it() {
    let store = Arc::new(MemoryStore::default());
    let repo = Repository::new(store);
    crate::testing::budget_check::two_instances_never_exceed_the_budget(repo.clone(), repo).await;
}

#[tokio::test]
async fn a_provider_near_its_daily_limit_pauses_every_instance_with_the_reason() {
    let store = Arc::new(MemoryStore::default());
    let tenant = uuid::Uuid::new_v4();
    let (a, b) = (budget(&store, 100, 100), budget(&store, 100, 100));
    a.acquire(tenant, "salesforce").await.unwrap();
    b.acquire(tenant, "salesforce").await.unwrap();
    a.report(
        tenant,
        "salesforce",
        LimitReport {
            what: "daily API requests",
            used: 4800,
            limit: 5000,
            resets_in: None,
        },
    )
    .await;
    let reason = a.waiting(tenant, "salesforce").expect("paused");
    assert!(
        reason.contains("4800 of 5000 daily API requests"),
        "{reason}"
    );
    assert!(a.waiting(tenant, "hubspot").is_none(), "per provider");

    // The other instance spends what it holds, then meets the pause at its
    // next claim and waits it out (600 ms).
    let started = tokio::time::Instant::now();
    for _ in 0..30 {
        b.acquire(tenant, "salesforce").await.unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "waited for the pause: {:?}",
        started.elapsed()
    );
    // Below the threshold nothing pauses.
    a.report(
        tenant,
        "salesforce",
        LimitReport {
            what: "daily API requests",
            used: 100,
            limit: 5000,
            resets_in: None,
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(a.waiting(tenant, "salesforce").is_none());
}
