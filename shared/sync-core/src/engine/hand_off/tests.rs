//! Hand-offs over the in-memory core: a task passed from run to run keeps
//! its slot, execution, counters and cursors, and no record or run is repeated.

use std::{collections::HashMap, time::Duration};

use tokio::{sync::broadcast, time::Instant};

use super::*;
use crate::{
    domain::events::OutboundEvent,
    engine::{TriggerError, TriggerRequest},
    testing::{
        Harness,
        harness::{fake_integration, inbound_trigger, settings},
    },
};

const TENANT: &str = "00000000-0000-4000-8000-000000000002";
const INTEGRATION: &str = "0b7d3f7e-8d5c-4b1e-9a55-3c2f1e0d9a8b";

fn tenant() -> TenantId {
    TENANT.parse().unwrap()
}

/// 200 accounts in pages of 50, at most one sync at a time, a margin no
/// deadline in these tests is ever further away than.
fn harness(handing_off: bool) -> Harness {
    let mut settings = settings();
    settings.sync_limits.page_size = 50;
    settings.sync_limits.max_concurrent_syncs_per_tenant = 1;
    settings.sync_limits.deadline_margin = Duration::from_secs(3600);
    let integration = fake_integration(tenant(), INTEGRATION, &["account"]);
    Harness::with_settings(settings, handing_off, vec![integration], 200)
}

fn request() -> TriggerRequest {
    inbound_trigger(INTEGRATION)
}

fn drain(events: &mut broadcast::Receiver<OutboundEvent>) -> Vec<OutboundEvent> {
    std::iter::from_fn(|| events.try_recv().ok()).collect()
}

fn count(events: &[OutboundEvent], kind: EventType) -> usize {
    events
        .iter()
        .filter(|e| e.event_type == kind.name())
        .count()
}

async fn settled(engine: &Arc<SyncEngine>) {
    tokio::time::timeout(Duration::from_secs(30), engine.runner().idle())
        .await
        .expect("runs end");
}

#[tokio::test]
async fn a_run_near_its_deadline_stops_at_a_page_and_the_next_run_goes_on_from_there() {
    let h = harness(false);
    let engine = &h.core.engine;
    let mut bus = h.bus.subscribe();
    engine
        .runner()
        .set_deadline(Some(Instant::now() + Duration::from_secs(600)));

    let task = engine.trigger(tenant(), request()).await.unwrap();
    settled(engine).await;

    let waiting = engine.get_task(tenant(), task.task_id).await.unwrap();
    assert_eq!(waiting.status, TaskStatus::Running);
    let hand_off = waiting.hand_off.clone().expect("handed on");
    assert!(hand_off.waiting);
    assert_eq!(
        (hand_off.continuations, hand_off.records_read),
        (1, 50),
        "one page, then the deadline was near"
    );
    let lease = waiting
        .run_lease
        .clone()
        .expect("the slot stays with the task");
    assert!(
        engine
            .limiter
            .holds(tenant(), &lease, time::now())
            .await
            .unwrap()
    );
    let first = drain(&mut bus);
    assert_eq!(count(&first, EventType::DataRaw), 50);
    assert_eq!(count(&first, EventType::SyncRunRequested), 1);
    assert_eq!(count(&first, EventType::SyncCompleted), 0);
    let refused = engine.trigger(tenant(), request()).await;
    assert!(
        matches!(refused, Err(TriggerError::Limited(_))),
        "the waiting task still counts against the tenant's limit"
    );

    engine.runner().set_deadline(None);
    assert_eq!(
        engine.take_up(tenant(), task.task_id).await.unwrap(),
        TakeUp::Started
    );
    settled(engine).await;

    let done = engine.get_task(tenant(), task.task_id).await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed, "{:?}", done.error);
    assert_eq!(done.counters.records_processed, 200);
    assert_eq!(done.counters.records_created, 200);
    assert_eq!(done.attempts, 2);
    assert_eq!(
        done.execution_id, waiting.execution_id,
        "the same execution"
    );
    let rest = drain(&mut bus);
    assert_eq!(count(&rest, EventType::SyncStarted), 0, "started once");
    assert_eq!(count(&rest, EventType::SyncCompleted), 1);
    let mut published: HashMap<Uuid, usize> = HashMap::new();
    for event in first.iter().chain(&rest) {
        if event.event_type == EventType::DataRaw.name() {
            *published.entry(event.id).or_default() += 1;
        }
    }
    assert_eq!(published.len(), 200, "every record ...");
    assert!(published.values().all(|&n| n == 1), "... once");
    assert_eq!(
        rest.iter()
            .filter(|e| e.event_type == EventType::DataRaw.name())
            .map(|e| e.correlation_id)
            .collect::<std::collections::HashSet<_>>(),
        first
            .iter()
            .filter(|e| e.event_type == EventType::DataRaw.name())
            .map(|e| e.correlation_id)
            .collect(),
        "one correlation id across the runs"
    );
    assert_eq!(
        engine.take_up(tenant(), task.task_id).await.unwrap(),
        TakeUp::NotWaiting(TaskStatus::Completed),
        "a request delivered again finds nothing to do"
    );
}

#[tokio::test]
async fn a_handing_off_trigger_stores_the_task_with_its_slot_and_publishes_the_request_only() {
    let h = harness(true);
    let engine = &h.core.engine;
    let mut bus = h.bus.subscribe();

    let task = engine.trigger(tenant(), request()).await.unwrap();
    settled(engine).await;

    let pending = engine.get_task(tenant(), task.task_id).await.unwrap();
    assert_eq!(pending.status, TaskStatus::Pending, "nothing ran here");
    assert!(pending.hand_off.as_ref().is_some_and(|h| h.waiting));
    assert!(pending.outbox.is_empty(), "the request went out");
    let sent = drain(&mut bus);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].event_type, EventType::SyncRunRequested.name());

    assert_eq!(
        engine.take_up(tenant(), task.task_id).await.unwrap(),
        TakeUp::Started
    );
    settled(engine).await;
    let done = engine.get_task(tenant(), task.task_id).await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed, "{:?}", done.error);
    assert_eq!(done.counters.records_processed, 200);
    assert!(
        engine.trigger(tenant(), request()).await.is_ok(),
        "the slot was given back at the end"
    );
}

#[tokio::test]
async fn cancelling_a_handed_off_task_ends_it_and_gives_its_slot_back() {
    let h = harness(true);
    let engine = &h.core.engine;
    let task = engine.trigger(tenant(), request()).await.unwrap();

    let cancelled = engine
        .cancel_task(tenant(), task.task_id, "someone")
        .await
        .unwrap();

    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    assert_eq!(
        engine.take_up(tenant(), task.task_id).await.unwrap(),
        TakeUp::NotWaiting(TaskStatus::Cancelled)
    );
    assert!(
        engine.trigger(tenant(), request()).await.is_ok(),
        "its slot is free for the next"
    );
}

#[tokio::test]
async fn a_task_cancelled_while_it_waits_for_its_next_run_ends_when_taken_up() {
    let h = harness(false);
    let engine = &h.core.engine;
    engine
        .runner()
        .set_deadline(Some(Instant::now() + Duration::from_secs(600)));
    let task = engine.trigger(tenant(), request()).await.unwrap();
    settled(engine).await;
    engine
        .cancel_task(tenant(), task.task_id, "someone")
        .await
        .unwrap();

    assert_eq!(
        engine.take_up(tenant(), task.task_id).await.unwrap(),
        TakeUp::Started
    );
    settled(engine).await;

    let ended = engine.get_task(tenant(), task.task_id).await.unwrap();
    assert_eq!(ended.status, TaskStatus::Cancelled);
    assert_eq!(
        ended.counters.records_processed, 50,
        "no page after the cancel"
    );
}

#[tokio::test]
async fn a_request_for_an_unknown_task_is_refused_for_good() {
    let h = harness(false);
    let error = h
        .core
        .engine
        .take_up(tenant(), Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(matches!(error, TakeUpError::NotFound(_)));
    assert!(!crate::ports::Transience::is_transient(&error));
}
