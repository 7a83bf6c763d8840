//! Incremental sync: nothing missed, nothing repeated, nothing silently dropped.

use std::{collections::HashMap, time::Duration};

use integration_tests::{
    SpawnOptions, TestApp, broker::published_ids, sandbox_integration, spawn_app,
};
use serde_json::Value;
use sync_core::{
    domain::Integration,
    ports::{Provider, PushRequest},
};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one sync to its end; returns the task and the events it published.
async fn sync(app: &mut TestApp, integration: &Integration) -> (Value, Vec<(String, Value)>) {
    let task_id = app
        .trigger_inbound(integration.tenant_id, &integration.id)
        .await;
    let mut events = Vec::new();
    loop {
        let batch = app
            .events
            .collect_until_any(
                &["integration.sync.completed", "integration.sync.failed"],
                TIMEOUT,
            )
            .await;
        let done = batch
            .last()
            .is_some_and(|(_, e)| e["data"]["taskId"] == task_id.as_str());
        events.extend(batch);
        if done {
            break;
        }
    }
    let task = app
        .wait_for_task_end(integration.tenant_id, &task_id, TIMEOUT)
        .await;
    (task, events)
}

fn count(events: &[(String, Value)], kind: &str) -> usize {
    events.iter().filter(|(k, _)| k == kind).count()
}

#[tokio::test]
async fn a_second_sync_of_unchanged_data_publishes_nothing_and_an_edit_publishes_exactly_that_record()
 {
    let fixture = sandbox_integration(&["opportunity"], 300);
    let integration = fixture.integration;
    let mut app = spawn_app(SpawnOptions {
        integrations: vec![integration.clone()],
        page_size: Some(47),
        ..Default::default()
    })
    .await;

    let (first, events) = sync(&mut app, &integration).await;
    assert_eq!(first["recordsCreated"], 300);
    assert_eq!(published_ids(&events).len(), 300);

    let (second, events) = sync(&mut app, &integration).await;
    assert_eq!(second["status"], "completed");
    assert!(
        published_ids(&events).is_empty(),
        "unchanged records publish nothing"
    );
    assert_eq!(second["recordsCreated"], 0);
    assert_eq!(second["recordsUpdated"], 0);

    let target = "OPP-000000123";
    let mut fields = serde_json::Map::new();
    fields.insert("StageName".into(), "Closed Won".into());
    app.sandbox
        .push(
            &integration,
            PushRequest {
                entity_type: "opportunity".into(),
                external_id: target.into(),
                fields,
                if_unmodified_since: None,
            },
        )
        .await
        .unwrap();
    let (third, events) = sync(&mut app, &integration).await;
    let ids = published_ids(&events);
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(ids.get(target), Some(&1));
    let raw = events
        .iter()
        .find(|(k, _)| k == "integration.data.raw")
        .unwrap();
    assert_eq!(raw.1["data"]["rawData"]["StageName"], "Closed Won");
    assert_eq!(raw.1["data"]["metadata"]["change"], "updated");
    assert_eq!(third["recordsUpdated"], 1);
    assert!(
        third["cursors"]["opportunity"]
            .as_str()
            .unwrap()
            .ends_with(target)
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_deleted_record_publishes_one_deletion_and_then_nothing() {
    let fixture = sandbox_integration(&["contact"], 120);
    let integration = fixture.integration;
    let mut app = spawn_app(SpawnOptions {
        integrations: vec![integration.clone()],
        ..Default::default()
    })
    .await;
    sync(&mut app, &integration).await;

    app.sandbox
        .delete(
            integration.tenant_id,
            &integration.id,
            "contact",
            "CON-000000007",
        )
        .unwrap();
    let (task, events) = sync(&mut app, &integration).await;

    assert_eq!(count(&events, "integration.data.deleted"), 1);
    let deletion = events
        .iter()
        .find(|(k, _)| k == "integration.data.deleted")
        .unwrap();
    assert_eq!(deletion.1["data"]["externalId"], "CON-000000007");
    assert_eq!(deletion.1["data"]["entityType"], "contact");
    assert!(
        deletion.1["data"]["idempotencyKey"]
            .as_str()
            .unwrap()
            .contains("CON-000000007")
    );
    assert_eq!(task["recordsDeleted"], 1);
    assert!(published_ids(&events).is_empty());

    let (again, events) = sync(&mut app, &integration).await;
    assert_eq!(
        count(&events, "integration.data.deleted"),
        0,
        "a tombstone is deleted once"
    );
    assert_eq!(again["recordsDeleted"], 0);
    app.cleanup().await;
}

#[tokio::test]
async fn a_run_that_would_delete_too_much_is_stopped_and_reported_before_deleting() {
    let fixture = sandbox_integration(&["account"], 100);
    let integration = fixture.integration;
    let mut app = spawn_app(SpawnOptions {
        integrations: vec![integration.clone()],
        ..Default::default()
    })
    .await;
    sync(&mut app, &integration).await;
    for i in 0..30 {
        app.sandbox
            .delete(
                integration.tenant_id,
                &integration.id,
                "account",
                &format!("ACC-{i:09}"),
            )
            .unwrap();
    }

    let (task, events) = sync(&mut app, &integration).await;

    assert_eq!(task["status"], "failed");
    let error = task["error"].as_str().unwrap();
    assert!(
        error.contains("mass-delete") && error.contains("30 of 100"),
        "{error}"
    );
    assert_eq!(
        count(&events, "integration.data.deleted"),
        0,
        "nothing deleted"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_capped_run_says_more_remain_and_the_next_runs_continue_without_gaps_or_repeats() {
    let fixture = sandbox_integration(&["contact"], 250);
    let integration = fixture.integration;
    let tweak: fn(&mut sync_core::config::Settings) = |s| s.sync_limits.max_records_per_sync = 100;
    let mut app = spawn_app(SpawnOptions {
        integrations: vec![integration.clone()],
        page_size: Some(50),
        tweak: Some(tweak),
        ..Default::default()
    })
    .await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut runs = Vec::new();
    for _ in 0..4 {
        let (task, events) = sync(&mut app, &integration).await;
        for (id, n) in published_ids(&events) {
            *seen.entry(id).or_default() += n;
        }
        assert_eq!(task["status"], "completed", "{task}");
        let more = task["moreRemaining"].as_bool().unwrap_or(false);
        runs.push((task["recordsProcessed"].as_u64().unwrap(), more));
        if !more {
            break;
        }
    }
    assert_eq!(runs[0], (100, true));
    assert_eq!(runs[1], (100, true));
    assert!(
        !runs.last().unwrap().1,
        "the last run has nothing more: {runs:?}"
    );
    assert_eq!(seen.len(), 250, "every record published");
    assert!(seen.values().all(|n| *n == 1), "no record published twice");
    app.cleanup().await;
}

#[tokio::test]
async fn a_restart_mid_run_resumes_from_the_last_checkpoint_with_nothing_lost() {
    let fixture = sandbox_integration(&["contact"], 20_000);
    let integration = fixture.integration;
    let data_dir = tempfile::tempdir().unwrap();
    let mut first = spawn_app(SpawnOptions {
        integrations: vec![integration.clone()],
        data_dir: Some(data_dir.path().to_path_buf()),
        page_size: Some(100),
        ..Default::default()
    })
    .await;
    first
        .trigger_inbound(integration.tenant_id, &integration.id)
        .await;
    let mut before = first
        .events
        .collect_until("integration.data.raw", TIMEOUT)
        .await;
    first.shutdown().await;
    before.extend(first.events.drain_for(Duration::from_millis(500)).await);
    let published_before = published_ids(&before);
    assert!(
        published_before.len() < 20_000,
        "the first run was interrupted"
    );

    let mut second = spawn_app(SpawnOptions {
        like: Some(first.settings.clone()),
        integrations: vec![integration.clone()],
        ..Default::default()
    })
    .await;
    let (task, after) = sync(&mut second, &integration).await;

    assert_eq!(task["status"], "completed");
    let published_after = published_ids(&after);
    let mut all = published_before.clone();
    for (id, n) in &published_after {
        *all.entry(id.clone()).or_default() += n;
    }
    assert_eq!(all.len(), 20_000, "every record published at least once");
    assert!(
        published_after.len() < 20_000 - published_before.len() / 2,
        "the second run resumed instead of starting over ({} republished)",
        published_after.len()
    );
    drop(first);
    second.cleanup().await;
}
