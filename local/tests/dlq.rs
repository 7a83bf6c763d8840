//! `integration-sync dlq list | show | replay` against the real RabbitMQ and
//! a running container binary: reasons and counts are shown, a dry run and a
//! replay that cannot be published change nothing, a replay reaches the
//! service again (the sync it asks for runs) and leaves the rest in place.

mod support;

use std::{process::Output, time::Duration};

use integration_tests::{
    EventObserver,
    broker::{connect, envelope, message_count, publish_raw},
    sandbox_integration,
};
use lapin::{
    BasicProperties,
    options::BasicPublishOptions,
    types::{AMQPValue, FieldTable, LongString},
};
use serde_json::json;
use support::Site;

const STORE_DOWN: &str = "the task store failed: unavailable (test)";

async fn dlq(site: &Site, args: &[&str]) -> Output {
    site.command("dlq.log", &[])
        .arg("dlq")
        .args(args)
        .output()
        .await
        .expect("the dlq command runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn wait_for_count(queue: &str, n: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let count = message_count(queue).await;
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
    let fixture = sandbox_integration(&["contact"], 5);
    let site = Site::new(&[&fixture.integration]);
    let names = &site.names;
    let _runner = site.start("runner.log", &[]).await;

    // One the consumer sets aside now (not JSON), one set aside earlier while
    // the store was down (a valid request for a sync).
    publish_raw(&names.exchange, "integration.sync.scheduled", b"{not json").await;
    let scheduled = envelope(
        "integration.sync.scheduled",
        fixture.tenant,
        json!({
            "integrationId": fixture.integration.id, "tenantId": fixture.tenant,
            "trigger": "cron", "scheduledAt": "2026-11-27T00:00:00Z"
        }),
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

    let list = dlq(&site, &["list"]).await;
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

    let show = dlq(&site, &["show", "--id", &scheduled_id]).await;
    let shown = stdout(&show);
    assert!(show.status.success(), "{shown}");
    assert!(shown.contains(&fixture.integration.id), "the body: {shown}");
    assert!(shown.contains("integration.sync.scheduled"), "{shown}");

    let dry = dlq(&site, &["replay", "--reason", "store failed", "--dry-run"]).await;
    assert!(dry.status.success(), "{}", stdout(&dry));
    assert!(stdout(&dry).contains("would replay"), "{}", stdout(&dry));
    wait_for_count(&names.dlq(), 2).await;

    // A replay the broker cannot route fails and keeps every message.
    let nowhere = dlq(&site, &["replay", "--all", "--to", "no-such-exchange-here"]).await;
    assert!(!nowhere.status.success(), "{}", stdout(&nowhere));
    let complaint = String::from_utf8_lossy(&nowhere.stderr);
    assert!(
        complaint.contains("stays in the dead-letter queue"),
        "{complaint}"
    );
    wait_for_count(&names.dlq(), 2).await;

    // Bound after the garbage went by: the observer reads JSON only.
    let mut observer = EventObserver::bind(&names.exchange).await;
    let replay = dlq(&site, &["replay", "--id", &scheduled_id]).await;
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

    let after = dlq(&site, &["list"]).await;
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
