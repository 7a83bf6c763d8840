//! Fault tests against real services: a RabbitMQ restart and a store outage in
//! the middle of a sync. Each is bounded in time and fails, never skips, when
//! the service it needs is missing.

use std::time::Duration;

use integration_tests::{
    SpawnOptions, TestApp,
    broker::published_ids,
    cosmos::{EMULATOR_KEY, emulator_endpoint},
    faults::{DurableTap, PrivateCosmosEmulator, PrivateRabbitNode},
    sandbox_integration,
    spawn::test_settings,
    spawn_app,
};
use uuid::Uuid;

/// Polls until the task has processed at least `records`; fails if it ends first.
async fn wait_for_progress(app: &TestApp, tenant: Uuid, task_id: &str, records: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let task = app.get_task(tenant, task_id).await;
        assert!(
            matches!(task["status"].as_str(), Some("pending" | "running")),
            "the sync ended before the fault: {task}"
        );
        if task["recordsProcessed"].as_u64().unwrap_or(0) >= records {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "too slow: {task}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The app on `settings`, syncing `fixture`, once the sync got `records` far.
async fn sync_under_way(
    settings: sync_core::config::Settings,
    fixture: &integration_tests::IntegrationFixture,
    records: u64,
) -> (TestApp, String) {
    let app = spawn_app(SpawnOptions {
        like: Some(settings),
        integrations: vec![fixture.integration.clone()],
        ..Default::default()
    })
    .await;
    let task_id = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    wait_for_progress(&app, fixture.tenant, &task_id, records).await;
    (app, task_id)
}

/// Polls `/ready` until it answers `status`.
async fn wait_for_ready_status(app: &TestApp, status: u16, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let answer = app.http.get(app.url("/ready")).send().await.unwrap();
        if answer.status().as_u16() == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/ready did not answer {status} within {within:?} (last: {})",
            answer.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_restart_mid_sync_is_survived_and_nothing_is_missing() {
    const RECORDS: u64 = 30_000;
    let node = PrivateRabbitNode::start().await;
    let fixture = sandbox_integration(&["account"], RECORDS);
    let data = tempfile::tempdir().unwrap();
    let mut settings = test_settings();
    settings.rabbitmq.url = Some(node.url());
    settings.storage.data_dir = data.path().display().to_string();
    settings.sync_limits.page_size = 100;
    let tap = DurableTap::bind(&node.url(), &settings.rabbitmq.exchange).await;
    let (app, task_id) = sync_under_way(settings, &fixture, RECORDS / 10).await;

    node.stop_app().await;
    wait_for_ready_status(&app, 503, Duration::from_secs(10)).await;
    let during = app.get_task(fixture.tenant, &task_id).await;
    assert_eq!(
        during["status"], "running",
        "the outage must hit the sync: {during}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    node.start_app().await;

    let task = app
        .wait_for_task_end(fixture.tenant, &task_id, Duration::from_secs(120))
        .await;
    assert_eq!(task["status"], "completed", "{task}");
    wait_for_ready_status(&app, 200, Duration::from_secs(10)).await;
    let events = tap
        .drain_until("integration.sync.completed", Duration::from_secs(30))
        .await;
    let ids = published_ids(&events);
    assert_eq!(
        ids.len() as u64,
        RECORDS,
        "none missing ({} events)",
        events.len()
    );
    assert_redeliveries_keep_their_ids(&events);
    app.cleanup().await;
}

/// An event published twice (a retry across the outage) is the same event:
/// same id, same data.
fn assert_redeliveries_keep_their_ids(events: &[(String, serde_json::Value)]) {
    let mut by_id = std::collections::HashMap::new();
    for (_, event) in events {
        let id = event["id"].as_str().expect("id").to_owned();
        if let Some(earlier) = by_id.insert(id, &event["data"]) {
            assert_eq!(earlier, &event["data"], "one id, two different events");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_mid_sync_fails_the_task_with_the_reason_and_a_rerun_completes() {
    const RECORDS: u64 = 10_000;
    let mut emulator = PrivateCosmosEmulator::start();
    let fixture = sandbox_integration(&["account"], RECORDS);
    let mut settings = on_cosmos(emulator.endpoint());
    settings.sync_limits.page_size = 100;
    settings.recovery.outage_tolerance = std::time::Duration::from_millis(60_000);
    let (mut app, task_id) = sync_under_way(settings, &fixture, 500).await;

    emulator.partition();
    wait_for_ready_status(&app, 503, Duration::from_secs(10)).await;
    // Longer than the Cosmos client's own retries of a stalled request (a
    // 6 s request timeout, retried), so the run meets the outage instead of
    // having it masked: a request in flight when the network went away would
    // otherwise just resume after a short partition.
    tokio::time::sleep(Duration::from_secs(30)).await;
    emulator.heal();

    let failed = app
        .wait_for_task_end(fixture.tenant, &task_id, Duration::from_secs(90))
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    wait_for_ready_status(&app, 200, Duration::from_secs(30)).await;
    let reason = failed["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("store"),
        "the reason names the store: {reason}"
    );
    let first_run = app
        .events
        .collect_until("integration.sync.failed", Duration::from_secs(30))
        .await;

    // A re-run completes; records whose state the failed run wrote were
    // published by it, the others now: none is missing.
    let rerun = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    let done = app
        .wait_for_task_end(fixture.tenant, &rerun, Duration::from_secs(120))
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let second_run = app
        .events
        .collect_until("integration.sync.completed", Duration::from_secs(30))
        .await;
    let all: Vec<_> = first_run.into_iter().chain(second_run).collect();
    assert_eq!(published_ids(&all).len() as u64, RECORDS);
    app.cleanup().await;
}

/// Settings of an instance on a fresh Cosmos DB emulator database.
fn on_cosmos(endpoint: String) -> sync_core::config::Settings {
    let mut settings = test_settings();
    settings.cosmos_db.endpoint = Some(endpoint);
    settings.cosmos_db.key = Some(secrecy::SecretString::from(EMULATOR_KEY.to_owned()));
    settings.cosmos_db.database_id = format!("it-{}", Uuid::new_v4().simple());
    settings.cosmos_db.allow_http2 = false;
    settings
}

/// Instance A dies abruptly mid-sync (its runtime is torn down: no code of the
/// run records anything more, its lease stops being renewed). Instances B and
/// C share its store and broker and both sweep for dead runs at once: the task
/// is resumed exactly once and completes with every record published.
#[test]
fn a_dead_run_is_resumed_once_when_two_instances_sweep_for_it() {
    const RECORDS: u64 = 3_000;
    let main = tokio::runtime::Runtime::new().unwrap();
    let fixture = sandbox_integration(&["account"], RECORDS);
    let mut settings = on_cosmos(emulator_endpoint());
    settings.sync_limits.page_size = 50;
    settings.sync_limits.lease_ttl = std::time::Duration::from_millis(3_000);
    let mut observer = main.block_on(integration_tests::EventObserver::bind(
        &settings.rabbitmq.exchange,
    ));

    let (started, on_started) = std::sync::mpsc::channel();
    let (kill, on_kill) = std::sync::mpsc::channel::<()>();
    let a_settings = settings.clone();
    let a_integration = fixture.integration.clone();
    let instance_a = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let app = runtime.block_on(spawn_app(SpawnOptions {
            like: Some(a_settings),
            integrations: vec![a_integration.clone()],
            ..Default::default()
        }));
        let task_id = runtime.block_on(async {
            let id = app.trigger_inbound(fixture.tenant, &a_integration.id).await;
            wait_for_progress(&app, fixture.tenant, &id, RECORDS / 5).await;
            id
        });
        started.send((task_id, app.settings.clone())).unwrap();
        on_kill.recv().unwrap();
        runtime.shutdown_background();
        // Nothing of A may run again, not even destructors that talk to services.
        std::mem::forget(app);
    });
    let (task_id, shared) = on_started.recv().unwrap();
    kill.send(()).unwrap();
    instance_a.join().unwrap();

    main.block_on(async {
        let spawn = || {
            spawn_app(SpawnOptions {
                like: Some(shared.clone()),
                integrations: vec![fixture.integration.clone()],
                ..Default::default()
            })
        };
        let (b, c) = (spawn().await, spawn().await);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let task = loop {
            let (rb, rc) = tokio::join!(b.engine.recover(), c.engine.recover());
            rb.expect("sweep b");
            rc.expect("sweep c");
            let task = b.get_task(fixture.tenant, &task_id).await;
            if task["status"] != "running" {
                break task;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never resumed: {task}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["attempts"], 2, "resumed exactly once: {task}");
        let events = observer
            .collect_until("integration.sync.completed", Duration::from_secs(30))
            .await;
        assert_eq!(published_ids(&events).len() as u64, RECORDS);
        let more = observer.drain_for(Duration::from_secs(2)).await;
        let completions = more
            .iter()
            .filter(|(k, _)| k == "integration.sync.completed")
            .count();
        assert_eq!(completions, 0, "one run completed the task, not two");
        b.cleanup().await;
        c.cleanup().await;
    });
}
