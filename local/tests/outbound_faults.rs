//! `kill -9` of the container runner between an outbound write and the
//! publication of what it implies (the broker refuses the publish, so the
//! runner is still retrying it when killed): the provider has the write and the
//! record's state holds `integration.data.synced` in its outbox; after a
//! restart the redelivered `shard.updated` publishes it (once), and the
//! provider is not written again.

mod support;

use std::time::Duration;

use integration_tests::{
    broker::{envelope_from, publish_raw_at},
    fakes::{platform::FakePlatform, salesforce::FakeSalesforce},
    faults::{DurableTap, PrivateRabbitNode, free_port},
};
use serde_json::{Value, json};
use support::{Names, spawn_runner, wait_healthy};
use sync_core::domain::Integration;
use uuid::Uuid;

const ROW: &str = "006000000000000003";

fn bidirectional_salesforce(tenant: Uuid) -> Integration {
    let same_name = |f: &str| json!({"externalField": f, "shardField": f});
    serde_json::from_value(json!({
        "id": format!("sf-{}", Uuid::new_v4().simple()),
        "tenantId": tenant,
        "providerName": "salesforce",
        "status": "connected",
        "credentialSecretName": "sf",
        "syncConfig": {
            "syncDirection": "bidirectional",
            "conflictResolution": "manual",
            "entityMappings": [{
                "externalEntity": "Opportunity", "shardTypeId": "c_opportunity", "enabled": true,
                "fieldMappings": [same_name("Name"), same_name("Amount"), same_name("StageName")]
            }]
        }
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_an_outbound_write_and_its_publication_loses_no_event() {
    let node = PrivateRabbitNode::start().await;
    let salesforce = FakeSalesforce::start(100, "session").await;
    salesforce.add_rows("Opportunity", 10, 1);
    let tenant = Uuid::new_v4();
    let integration = bidirectional_salesforce(tenant);
    let platform = FakePlatform::start(vec![integration.clone()]).await;
    platform.set_secret(
        "sf",
        json!({"type": "OAUTH2_TOKEN", "accessToken": "session", "tokenType": "Bearer", "instanceUrl": salesforce.url}),
    );
    platform.set_shard(
        "shard-3",
        json!({
            "id": "shard-3", "tenantId": tenant, "shardTypeId": "c_opportunity",
            "structuredData": {"Name": "Opportunity 3", "Amount": 1003, "StageName": "Negotiation"},
            "metadata": {"integrationId": integration.id, "externalId": ROW, "externalSource": integration.id},
            "revisionNumber": 2
        }),
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("integrations.yaml"), "integrations: []\n").unwrap();
    let names = Names::fresh();
    let url = node.url();
    let env = [
        ("RABBITMQ_URL", url.as_str()),
        ("INTEGRATION_MANAGER_URL", platform.url.as_str()),
        ("SECRET_MANAGEMENT_URL", platform.url.as_str()),
        ("SHARD_MANAGER_URL", platform.url.as_str()),
        ("RECOVERY_ENABLED", "false"),
    ];
    let tap = DurableTap::bind(&url, &names.exchange).await;
    let http = outgoing_http::client_builder().build().unwrap();

    // The first start declares the service queue; the event waits in it.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = spawn_runner(port, dir.path(), &names, "first.log", &env);
    wait_healthy(&http, &base).await;
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let event = envelope_from(
        "shard-manager",
        "shard.updated",
        tenant,
        json!({"shardId": "shard-3", "shardTypeId": "c_opportunity"}),
    );
    publish_raw_at(
        &url,
        &names.exchange,
        "shard.updated",
        event.to_string().as_bytes(),
    )
    .await;

    // Publishing refused: the runner consumes, writes to Salesforce, records
    // the state with its outbox, and keeps retrying the publish. Killed there.
    node.refuse_publishing_to(&names.exchange).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut second = spawn_runner(port, dir.path(), &names, "second.log", &env);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while salesforce.patches().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no write reached Salesforce; log:\n{}",
            std::fs::read_to_string(dir.path().join("second.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    second.start_kill().unwrap(); // SIGKILL, inside the blocked publish
    second.wait().await.unwrap();
    node.allow_everything().await;
    assert_eq!(
        salesforce.field("Opportunity", ROW, "StageName"),
        "Negotiation"
    );
    let before: Vec<_> = tap
        .drain()
        .await
        .into_iter()
        .filter(|(key, _)| key != "shard.updated")
        .collect();
    assert!(
        before.is_empty(),
        "nothing was published before the kill: {before:?}"
    );

    let port = free_port();
    let base2 = format!("http://127.0.0.1:{port}");
    let _third = spawn_runner(port, dir.path(), &names, "third.log", &env);
    wait_healthy(&http, &base2).await;
    let events = tap
        .drain_until("integration.data.synced", Duration::from_secs(60))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut events = events;
    events.extend(tap.drain().await);
    let synced: Vec<&Value> = events
        .iter()
        .filter(|(key, _)| key == "integration.data.synced")
        .map(|(_, e)| e)
        .collect();
    assert_eq!(synced.len(), 1, "published once: {events:?}");
    assert_eq!(
        synced[0]["data"]["changes"],
        json!([{"field": "StageName", "old": "Prospecting", "new": "Negotiation"}])
    );
    assert_eq!(salesforce.patches().len(), 1, "the provider written once");
    let _ = base;
}
