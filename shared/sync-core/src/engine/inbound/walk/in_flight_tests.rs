//! How much of a walk is in flight while the broker has not confirmed: at
//! most four pages, and at most 4,000 changed records however large the
//! pages, so the memory a run holds does not grow with its page size.
//!
//! The bus takes every page's events and never confirms them: the walk
//! sends pages until its next commit must wait for the oldest page, and the
//! number of pages it sent is what the bounds let out.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;

use crate::{
    assembly::Core,
    domain::{TenantId, events::OutboundEvent},
    ports::{Confirming, EventBus, PublishError},
    testing::{
        FakeProvider, MemoryStore,
        harness::{adapters, fake_integration, inbound_trigger, settings},
    },
};

const TENANT: &str = "00000000-0000-4000-8000-000000000003";
const INTEGRATION: &str = "5d2e8f1a-3b4c-4d6e-9f0a-1b2c3d4e5f60";

/// Counts the pages handed to it; their confirms never come.
#[derive(Default)]
struct NeverConfirms {
    pages_sent: AtomicUsize,
}

#[async_trait]
impl EventBus for NeverConfirms {
    async fn publish(&self, _events: &[OutboundEvent]) -> Result<(), PublishError> {
        Ok(())
    }

    async fn send(&self, _events: Arc<[OutboundEvent]>) -> Result<Confirming, PublishError> {
        self.pages_sent.fetch_add(1, Ordering::SeqCst);
        Ok(Box::pin(std::future::pending()))
    }

    async fn health(&self) -> Result<(), PublishError> {
        Ok(())
    }
}

/// Pages a first sync of 10,000 records sends in pages of `page_size`
/// before it waits on confirms that never come.
async fn pages_sent_unconfirmed(page_size: usize) -> usize {
    let tenant: TenantId = TENANT.parse().unwrap();
    let mut settings = settings();
    settings.sync_limits.page_size = page_size;
    let bus = Arc::new(NeverConfirms::default());
    let core = Core::assemble(
        settings,
        adapters(
            Arc::new(MemoryStore::default()),
            bus.clone(),
            vec![fake_integration(tenant, INTEGRATION, &["account"])],
            Arc::new(FakeProvider {
                records_per_entity: 10_000,
            }),
        ),
    );
    core.engine
        .trigger(tenant, inbound_trigger(INTEGRATION))
        .await
        .unwrap();
    // The clock is paused: it moves on only once every task waits, so the
    // walk has sent all it will by the end of this sleep.
    tokio::time::sleep(Duration::from_secs(30)).await;
    bus.pages_sent.load(Ordering::SeqCst)
}

#[tokio::test(start_paused = true)]
async fn pages_of_a_thousand_go_out_four_at_a_time() {
    assert_eq!(pages_sent_unconfirmed(1_000).await, 4);
}

#[tokio::test(start_paused = true)]
async fn large_pages_are_held_to_four_thousand_changed_records_in_flight() {
    // Two pages of 1,500 (3,000 records); a third would make 4,500.
    assert_eq!(pages_sent_unconfirmed(1_500).await, 2);
    // A page larger than the bound still goes out, alone.
    assert_eq!(pages_sent_unconfirmed(5_000).await, 1);
}
