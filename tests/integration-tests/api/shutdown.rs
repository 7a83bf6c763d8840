//! Graceful shutdown stops running syncs cleanly: they record how they ended.

use std::time::Duration;

use integration_tests::{SpawnOptions, sandbox_integration, spawn_app};
use store_sqlite::SqliteStore;
use sync_core::{domain::SyncTask, repository::Repository};

#[tokio::test]
async fn a_sync_running_at_shutdown_ends_failed_with_the_reason_and_says_so() {
    // Large enough, with small pages, to be mid-run when the signal comes.
    let fixture = sandbox_integration(&["contact"], 2_000_000);
    let data_dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        data_dir: Some(data_dir.path().to_path_buf()),
        page_size: Some(50),
        ..Default::default()
    })
    .await;
    let task_id = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    // Wait until records are flowing.
    let _ = app
        .events
        .collect_until("integration.data.raw", Duration::from_secs(30))
        .await;

    app.shutdown().await;

    let events = app
        .events
        .collect_until("integration.sync.failed", Duration::from_secs(10))
        .await;
    let failed = &events.last().unwrap().1;
    assert!(
        failed["data"]["error"]
            .as_str()
            .unwrap()
            .contains("shutting down"),
        "{failed}"
    );
    let store = SqliteStore::open_in_dir(data_dir.path()).unwrap();
    let task = Repository::new(std::sync::Arc::new(store))
        .get::<SyncTask>(fixture.tenant, &task_id)
        .await
        .unwrap()
        .expect("task stored")
        .doc;
    assert_eq!(task.status, sync_core::domain::TaskStatus::Failed);
    assert!(task.error.unwrap().contains("shutting down"));
    assert!(task.counters.records_processed > 0);
    assert!(task.counters.records_processed < 2_000_000);
    app.cleanup().await;
}
