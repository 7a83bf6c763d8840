//! The sweep over the in-memory core: what a dead process leaves behind is
//! finished, once.

use std::{sync::Arc, time::Duration};

use uuid::Uuid;

use super::*;
use crate::{
    domain::{
        Direction, SyncTask,
        events::{EventMetadata, EventType},
        task::RunLease,
    },
    repository::Repository,
    testing::{Harness, harness::fake_integration},
};

const TENANT: &str = "00000000-0000-4000-8000-000000000001";
const INTEGRATION: &str = "5f0c8a52-4a1e-4c53-9d2b-0c1d2e3f4a5b";

struct Embedded {
    core: crate::assembly::Core,
    bus: crate::outbound::InProcessBus,
    repo: Repository,
}

async fn embedded() -> Embedded {
    let integration = fake_integration(TENANT.parse().unwrap(), INTEGRATION, &["account"]);
    let Harness { core, bus, repo } = Harness::new(vec![integration], 200);
    Embedded { core, bus, repo }
}

fn task(status: TaskStatus) -> SyncTask {
    let mut task = SyncTask::new_pending(
        TENANT.parse().unwrap(),
        INTEGRATION.into(),
        Direction::Inbound,
        Some("account".into()),
        None,
        Some("test".into()),
    );
    task.status = status;
    task
}

#[tokio::test]
async fn an_ended_task_s_outbox_is_published_once_and_its_marker_dropped() {
    let e = embedded().await;
    let engine = &e.core.engine;
    let mut events = e.bus.subscribe();
    let mut ended = task(TaskStatus::Completed);
    let completed = e.core.events.build(
        EventType::SyncCompleted,
        ended.tenant_id,
        serde_json::json!({"taskId": ended.task_id}),
        &EventMetadata::default(),
    );
    ended.outbox.push(completed.to_pending());
    engine.mark_active(&ended).await.unwrap();
    e.repo.create(&ended).await.unwrap();

    let report = engine.recover().await.unwrap();
    assert_eq!(report.outbox_events, 1);
    assert_eq!(report.settled, 1);
    let published = events.try_recv().expect("the outbox event was published");
    assert_eq!(
        published.id, completed.id,
        "with the id it was recorded with"
    );
    let stored = engine
        .get_task(ended.tenant_id, ended.task_id)
        .await
        .unwrap();
    assert!(stored.outbox.is_empty());

    let again = engine.recover().await.unwrap();
    assert_eq!(again, RecoveryReport::default(), "nothing left to do");
    assert!(events.try_recv().is_err(), "not published twice");
}

#[tokio::test]
async fn a_running_task_whose_lease_is_not_held_is_resumed_to_its_end() {
    let e = embedded().await;
    let engine: &Arc<SyncEngine> = &e.core.engine;
    let mut orphan = task(TaskStatus::Running);
    orphan.attempts = 1;
    orphan.run_lease = Some(RunLease {
        slot_id: "slot-0".into(),
        holder: Uuid::new_v4(),
    });
    engine.mark_active(&orphan).await.unwrap();
    e.repo.create(&orphan).await.unwrap();

    let report = engine.recover().await.unwrap();
    assert_eq!(report.resumed, 1);
    tokio::time::timeout(Duration::from_secs(30), engine.runner().idle())
        .await
        .unwrap();
    let done = engine
        .get_task(orphan.tenant_id, orphan.task_id)
        .await
        .unwrap();
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    assert_eq!(done.attempts, 2);
    assert_eq!(done.counters.records_processed, 200, "every account");
    assert!(done.run_lease.is_none() && done.outbox.is_empty());
    assert_eq!(
        engine.recover().await.unwrap(),
        RecoveryReport::default(),
        "the marker went with the end"
    );
}

#[tokio::test]
async fn a_live_run_is_left_alone() {
    let e = embedded().await;
    let engine = &e.core.engine;
    let holder = Uuid::new_v4();
    let lease = engine
        .limiter
        .claim_slot(TENANT.parse().unwrap(), holder, time::now())
        .await
        .unwrap();
    let mut live = task(TaskStatus::Running);
    live.run_lease = Some(lease.run_lease());
    engine.mark_active(&live).await.unwrap();
    e.repo.create(&live).await.unwrap();

    assert_eq!(engine.recover().await.unwrap(), RecoveryReport::default());
    let still = engine.get_task(live.tenant_id, live.task_id).await.unwrap();
    assert_eq!(still.status, TaskStatus::Running);
    assert_eq!(still.run_lease, live.run_lease);
}

#[tokio::test]
async fn a_task_whose_integration_is_gone_is_failed_with_the_reason() {
    let e = embedded().await;
    let engine = &e.core.engine;
    let mut orphan = task(TaskStatus::Running);
    orphan.integration_id = "no-such-integration".into();
    orphan.run_lease = Some(RunLease {
        slot_id: "slot-0".into(),
        holder: Uuid::new_v4(),
    });
    engine.mark_active(&orphan).await.unwrap();
    e.repo.create(&orphan).await.unwrap();

    engine.recover().await.unwrap();
    let failed = engine
        .get_task(orphan.tenant_id, orphan.task_id)
        .await
        .unwrap();
    assert_eq!(failed.status, TaskStatus::Failed);
    let reason = failed.error.unwrap_or_default();
    assert!(
        reason.contains("cannot be resumed") && reason.contains("not found"),
        "{reason}"
    );
    assert_eq!(engine.recover().await.unwrap(), RecoveryReport::default());
}
