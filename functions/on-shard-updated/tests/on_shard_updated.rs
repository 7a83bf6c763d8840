//! `on-shard-updated` under an emulated Runtime API, fed an Amazon MQ batch.

use std::time::Duration;

use integration_tests::{
    EventObserver,
    broker::{envelope_from, next_on_queue},
    lambda::{
        Outcome, RunningFunction, RuntimeApi, SalesforceSetup, deployment, message, mq_batch,
        response,
    },
};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_shard_update_is_pushed_once_garbage_is_set_aside_and_a_wrong_source_refused() {
    let setup = SalesforceSetup::start(&["Opportunity"], 3, "bidirectional").await;
    let (tenant, row) = (setup.integration.tenant_id, "006000000000000001");
    // shard-manager serves the shard; the event carries only its id.
    setup.platform.set_shard(
        "shard-1",
        json!({
            "id": "shard-1", "tenantId": tenant, "shardTypeId": "c_opportunity",
            "structuredData": {"stage": "Edited in the platform"},
            "metadata": {"integrationId": setup.integration.id, "externalId": row}
        }),
    );
    let deployment = deployment(
        std::slice::from_ref(&setup.integration),
        &setup.neighbours(),
    )
    .await;
    let mut observer = EventObserver::bind(&deployment.exchange).await;
    let api = RuntimeApi::start().await;
    let _function = RunningFunction::start(
        env!("CARGO_BIN_EXE_on-shard-updated"),
        &api,
        &deployment.env,
    );
    let event = envelope_from(
        "shard-manager",
        "shard.updated",
        tenant,
        json!({"shardId": "shard-1", "shardTypeId": "c_opportunity"}),
    )
    .to_string();
    let batch = mq_batch(json!({
        "integration_sync_service::/": [message(event.as_bytes(), "shard.updated", false), message(b"not json at all", "shard.updated", false)],
        "integration_sync_service_retry::/": [message(event.as_bytes(), "shard.updated", true)],
    }));

    let report = response(api.invoke(batch).await);

    assert_eq!(
        report,
        json!({"handled": 1, "duplicates": 1, "rejected": 1, "redelivered": 1})
    );
    let events = observer
        .collect_until("integration.data.synced", TIMEOUT)
        .await;
    let synced = &events.last().unwrap().1["data"];
    assert_eq!(synced["externalId"], row);
    assert_eq!(synced["changes"][0]["field"], "StageName");
    assert_eq!(synced["changes"][0]["new"], "Edited in the platform");
    assert_eq!(
        setup.salesforce.patches().len(),
        1,
        "pushed once: {:?}",
        setup.salesforce.patches()
    );
    let later = observer.drain_for(Duration::from_millis(500)).await;
    assert!(
        later.iter().all(|(k, _)| k != "integration.data.synced"),
        "pushed once"
    );
    let (body, reason) = next_on_queue(&deployment.dead_letter_queue, TIMEOUT).await;
    assert_eq!(body, b"not json at all");
    assert!(reason.unwrap().contains("not an event envelope"));

    let wrong = api
        .invoke(json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}))
        .await;
    let Outcome::Error(error) = wrong else {
        panic!("a wrongly wired trigger must fail")
    };
    assert_eq!(error["errorType"], "WrongEventSource");
}
