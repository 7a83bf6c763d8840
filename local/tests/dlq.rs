//! `integration-sync dlq list | show | replay` against the real RabbitMQ and
//! a running container binary: reasons and counts are shown, a dry run and a
//! replay that cannot be published change nothing, a replay reaches the
//! service again (the sync it asks for runs) and leaves the rest in place.

mod support;

use std::{path::Path, process::Output, time::Duration};

use integration_tests::{
    EventObserver,
    broker::{connect, envelope, publish_raw},
    faults::free_port,
    sandbox_integration,
};
use lapin::{
    BasicProperties,
    options::{BasicPublishOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable, LongString},
};
use serde_json::json;
use support::{Names, runner_command, spawn_runner, wait_healthy};

const STORE_DOWN: &str = "the task store failed: unavailable (test)";

async fn dlq(dir: &Path, names: &Names, args: &[&str]) -> Output {
    runner_command(dir, names, "dlq.log", &[])
        .arg("dlq")
        .args(args)
        .output()
        .await
        .expect("the dlq command runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn messages_in(queue: &str) -> u32 {
    let connection = connect().await;
    let channel = connection.create_channel().await.unwrap();
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("the dead-letter queue exists");
    declared.message_count()
}

async fn wait_for_count(queue: &str, n: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let count = messages_in(queue).await;
        if count == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{queue} holds {count} messages, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_with_reasons_and_replayed_without_losing_any() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = sandbox_integration(&["contact"], 5);
    let yaml = json!({"integrations": [fixture.integration]}).to_string();
    std::fs::write(dir.path().join("integrations.yaml"), yaml).unwrap();
    let names = Names::fresh();
    let http = outgoing_http::client_builder().build().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _runner = spawn_runner(port, dir.path(), &names, "runner.log", &[]);
    wait_healthy(&http, &base).await;

    // One the consumer sets aside now (not JSON), one set aside earlier while
    // the store was down (a valid request for a sync).
    publish_raw(&names.exchange, "integration.sync.scheduled", b"{not json").await;
    let scheduled = envelope(
        "integration.sync.scheduled",
        fixture.tenant,
        json!({"integrationId": fixture.integration.id, "tenantId": fixture.tenant, "trigger": "cron"}),
    );
    let scheduled_id = scheduled["id"].as_str().unwrap().to_owned();
    let mut headers = FieldTable::default();
    headers.insert(
        "x-failure-reason".into(),
        AMQPValue::LongString(LongString::from(STORE_DOWN)),
    );
    let connection = connect().await;
    let channel = connection.create_channel().await.unwrap();
    channel.confirm_select(Default::default()).await.unwrap();
    channel
        .basic_publish(
            names.dlx().as_str().into(),
            "integration.sync.scheduled".into(),
            BasicPublishOptions::default(),
            scheduled.to_string().as_bytes(),
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    wait_for_count(&names.dlq(), 2).await;

    let list = dlq(dir.path(), &names, &["list"]).await;
    let listed = stdout(&list);
    assert!(list.status.success(), "{listed}{list:?}");
    assert!(listed.contains("2 message(s)"), "{listed}");
    assert!(listed.contains(&scheduled_id), "{listed}");
    assert!(listed.contains(STORE_DOWN), "{listed}");
    assert!(
        listed.contains("not an event envelope"),
        "the consumer's reason for the garbage: {listed}"
    );
    assert!(listed.contains("by reason:"), "{listed}");
    wait_for_count(&names.dlq(), 2).await; // listing took nothing away

    let show = dlq(dir.path(), &names, &["show", "--id", &scheduled_id]).await;
    let shown = stdout(&show);
    assert!(show.status.success(), "{shown}");
    assert!(shown.contains(&fixture.integration.id), "the body: {shown}");
    assert!(shown.contains("integration.sync.scheduled"), "{shown}");

    let dry = dlq(
        dir.path(),
        &names,
        &["replay", "--reason", "store failed", "--dry-run"],
    )
    .await;
    assert!(dry.status.success(), "{}", stdout(&dry));
    assert!(stdout(&dry).contains("would replay"), "{}", stdout(&dry));
    wait_for_count(&names.dlq(), 2).await;

    // A replay the broker cannot route fails and keeps every message.
    let nowhere = dlq(
        dir.path(),
        &names,
        &["replay", "--all", "--to", "no-such-exchange-here"],
    )
    .await;
    assert!(!nowhere.status.success(), "{}", stdout(&nowhere));
    let complaint = String::from_utf8_lossy(&nowhere.stderr);
    assert!(
        complaint.contains("stays in the dead-letter queue"),
        "{complaint}"
    );
    wait_for_count(&names.dlq(), 2).await;

    // Bound after the garbage went by: the observer reads JSON only.
    let mut observer = EventObserver::bind(&names.exchange).await;
    let replay = dlq(dir.path(), &names, &["replay", "--id", &scheduled_id]).await;
    assert!(replay.status.success(), "{}{replay:?}", stdout(&replay));
    assert!(
        stdout(&replay).contains("replayed 1 of 1; 1 left"),
        "{}",
        stdout(&replay)
    );
    wait_for_count(&names.dlq(), 1).await;
    let events = observer
        .collect_until("integration.sync.completed", Duration::from_secs(30))
        .await;
    let completed = &events.last().unwrap().1;
    assert_eq!(
        completed["data"]["integrationId"],
        fixture.integration.id.as_str()
    );
    assert_eq!(completed["data"]["recordsProcessed"], 5);

    let after = dlq(dir.path(), &names, &["list"]).await;
    assert!(
        stdout(&after).contains("1 message(s)"),
        "{}",
        stdout(&after)
    );
    assert!(
        !stdout(&after).contains(&scheduled_id),
        "{}",
        stdout(&after)
    );
}
