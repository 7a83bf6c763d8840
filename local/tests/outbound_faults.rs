//! `kill -9` of the container runner between an outbound write and the
//! publication of what it implies (the broker refuses the publish, so the
//! runner is still retrying it when killed): the provider has the write and the
//! record's state holds `integration.data.synced` in its outbox; after a
//! restart the redelivered `shard.updated` publishes it (once), and the
//! provider is not written again.

mod support;

use std::time::Duration;

use integration_tests::{
    broker::{publish_raw_at, shard_updated},
    fakes::{platform::FakePlatform, salesforce::FakeSalesforce},
    faults::{DurableTap, PrivateRabbitNode},
};
use serde_json::{Value, json};
use support::Site;
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
    let shard = json!({
            "id": "shard-3", "tenantId": tenant, "shardTypeId": "c_opportunity",
            "structuredData": {"Name": "Opportunity 3", "Amount": 1003, "StageName": "Negotiation"},
            "metadata": {"integrationId": integration.id, "externalId": ROW, "externalSource": integration.id},
            "revisionNumber": 2
    });
    platform.set_shard("shard-3", shard.clone());

    // Integrations come from (fake) integration-manager.
    let site = Site::new(&[]);
    let names = &site.names;
    let url = node.url();
    let env = [
        ("RABBITMQ_URL", url.as_str()),
        ("INTEGRATION_MANAGER_URL", platform.url.as_str()),
        ("SECRET_MANAGEMENT_URL", platform.url.as_str()),
        ("SHARD_MANAGER_URL", platform.url.as_str()),
        ("RECOVERY_ENABLED", "false"),
    ];
    let tap = DurableTap::bind(&url, &names.exchange).await;

    // The first start declares the service queue; the event waits in it.
    let (mut first, _) = site.start("first.log", &env).await;
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let event = shard_updated(tenant, &shard);
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
    let (mut second, _) = site.start("second.log", &env).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while salesforce.patches().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no write reached Salesforce; log:\n{}",
            site.log("second.log")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    second.start_kill().unwrap(); // SIGKILL, inside the refused publish's retries
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

    let _third = site.start("third.log", &env).await;
    let mut events = tap
        .drain_until("integration.data.synced", Duration::from_secs(60))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
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
}
