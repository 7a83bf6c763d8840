//! A page already read is taken at once: the walk waits on no timer for it.
//!
//! The clock is paused and every page's read moves it on by a microsecond,
//! off the millisecond grid of tokio's timers, so a timer awaited per page
//! (one set for "now" fires on the next millisecond) would show as about a
//! millisecond of the paused clock per page.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

use crate::{
    domain::{Integration, TaskStatus, TenantId},
    ports::provider::{PageRequest, Provider, ProviderError, PushOutcome, PushRequest, RecordPage},
    testing::{
        FakeProvider, Harness,
        harness::{fake_integration, inbound_trigger, settings},
    },
};

const TENANT: &str = "00000000-0000-4000-8000-000000000002";
const INTEGRATION: &str = "3b9d7c1e-2f4a-4b6c-8d0e-1f2a3b4c5d6e";

/// The fake provider, each of whose reads takes a microsecond.
struct OffTheGrid(FakeProvider);

#[async_trait]
impl Provider for OffTheGrid {
    async fn fetch_page(
        &self,
        integration: &Integration,
        request: PageRequest,
    ) -> Result<RecordPage, ProviderError> {
        tokio::time::advance(Duration::from_micros(1)).await;
        self.0.fetch_page(integration, request).await
    }

    async fn push(
        &self,
        integration: &Integration,
        request: PushRequest,
    ) -> Result<PushOutcome, ProviderError> {
        self.0.push(integration, request).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_page_already_read_is_taken_without_waiting_on_a_timer() {
    let tenant: TenantId = TENANT.parse().unwrap();
    let mut settings = settings();
    settings.sync_limits.page_size = 10;
    let provider = OffTheGrid(FakeProvider {
        records_per_entity: 2_000,
    });
    let h = Harness::with_provider(
        settings,
        false,
        vec![fake_integration(tenant, INTEGRATION, &["account"])],
        Arc::new(provider),
    );
    let engine = &h.core.engine;

    let started = tokio::time::Instant::now();
    let task = engine
        .trigger(tenant, inbound_trigger(INTEGRATION))
        .await
        .unwrap();
    engine.runner().idle().await;
    let elapsed = started.elapsed();

    let task = engine.get_task(tenant, task.task_id).await.unwrap();
    assert_eq!(task.status, TaskStatus::Completed, "{task:?}");
    assert_eq!(task.counters.records_processed, 2_000);
    // 200 pages: a millisecond each would be 200 ms; their reads are 0.2 ms.
    assert!(
        elapsed < Duration::from_millis(50),
        "200 pages took {elapsed:?} of the paused clock: the walk waited on a timer"
    );
}
