//! The shared request budget seen from two instances: each with its own
//! [`StoreBudget`] over its own connection to one store.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use crate::{outbound::StoreBudget, repository::Repository, testing::harness};

/// 20 requests per window of 1 s; two instances, three callers each, all
/// asking as fast as they can for 2.5 s: no window grants more than 20
/// across both, and the allowance is used (not starved by the claims).
pub async fn two_instances_never_exceed_the_budget(a: Repository, b: Repository) {
    let mut settings = harness::settings().providers;
    settings.requests_per_second = 20;
    settings.burst = 20;
    let tenant = uuid::Uuid::new_v4();
    let instances = [
        Arc::new(StoreBudget::new(a, &settings)),
        Arc::new(StoreBudget::new(b, &settings)),
    ];
    let until = tokio::time::Instant::now() + Duration::from_millis(2500);
    let mut callers = Vec::new();
    for instance in &instances {
        for _ in 0..3 {
            let instance = instance.clone();
            callers.push(tokio::spawn(async move {
                let mut windows = Vec::new();
                while tokio::time::Instant::now() < until {
                    let window = instance
                        .acquire_in_window(tenant, "salesforce")
                        .await
                        .expect("the budget is readable");
                    windows.push(window);
                }
                windows
            }));
        }
    }
    let mut per_window: BTreeMap<i64, u32> = BTreeMap::new();
    for caller in callers {
        for window in caller.await.expect("a caller") {
            *per_window.entry(window).or_default() += 1;
        }
    }
    assert!(per_window.len() >= 2, "{per_window:?}");
    assert!(
        per_window.values().all(|n| *n <= 20),
        "never more than the window's allowance across both: {per_window:?}"
    );
    assert!(
        per_window.values().any(|n| *n >= 15),
        "and the allowance is used, not starved: {per_window:?}"
    );
}
