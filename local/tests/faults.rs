//! `kill -9` of the container runner in the middle of a 100,000-record sandbox
//! sync: after a restart on the same store and broker the sync completes and
//! every record's event is on the test queue at least once.

mod support;

use std::time::Duration;

use integration_tests::{EventObserver, broker::published_ids, sandbox_integration};
use support::{Site, get_task, token, trigger_inbound};

const RECORDS: u64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_sync_then_restart_completes_with_every_record_published() {
    let fixture = sandbox_integration(&["account"], RECORDS);
    let site = Site::new(&[&fixture.integration]);
    let mut observer = EventObserver::bind(&site.names.exchange).await;
    let token = token(fixture.tenant);
    let http = &site.http;

    let (mut first, base) = site.start("first.log", &[]).await;
    let task_id =
        trigger_inbound(http, &base, &token, fixture.tenant, &fixture.integration.id).await;

    // Let it get a fifth of the way, then kill it without warning.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let task = get_task(http, &base, &token, fixture.tenant, &task_id).await;
        assert!(
            matches!(task["status"].as_str(), Some("pending" | "running")),
            "the sync ended before the kill: {task}"
        );
        if task["recordsProcessed"].as_u64().unwrap_or(0) >= RECORDS / 5 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "too slow: {task}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();

    let (_second, base) = site.start("second.log", &[]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let task = loop {
        let task = get_task(http, &base, &token, fixture.tenant, &task_id).await;
        if task["status"] != "running" {
            break task;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not resumed to its end: {task}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let logs = site.log("second.log");
    assert_eq!(
        task["status"], "completed",
        "{task}\nsecond runner's log:\n{logs}"
    );
    assert_eq!(task["attempts"], 2, "one run killed, one resumed: {task}");

    let events = observer
        .collect_until("integration.sync.completed", Duration::from_secs(60))
        .await;
    let ids = published_ids(&events);
    assert_eq!(
        ids.len() as u64,
        RECORDS,
        "every record's event at least once ({} events seen)",
        events.len()
    );
    let duplicates = ids.values().filter(|n| **n > 1).count();
    eprintln!(
        "{} events; {duplicates} records published more than once (redelivered after the kill)",
        events.len()
    );
}
