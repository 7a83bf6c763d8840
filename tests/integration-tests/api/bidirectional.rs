//! Bidirectional sync against the fake Salesforce: three-way merge, each
//! conflict strategy, resolving a conflict, the conditional write, no echo.

use std::time::Duration;

use integration_tests::{
    SpawnOptions, TestApp,
    broker::of_type,
    fakes::{platform::FakePlatform, salesforce::FakeSalesforce},
    spawn_app,
};
use reqwest::Method;
use serde_json::{Value, json};
use sync_core::{
    domain::{
        Direction, Integration,
        events::{EventMetadata, ShardUpdated},
        sync_state::RecordState,
    },
    engine::outbound::OutboundOutcome,
};
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(30);
const ROW: &str = "006000000000000003";

struct Setup {
    app: TestApp,
    salesforce: FakeSalesforce,
    platform: FakePlatform,
    integration: Integration,
}

/// A bidirectional Salesforce integration, synced inbound once (the base).
async fn setup(strategy: &str) -> Setup {
    setup_as(strategy, "bidirectional").await
}

/// The same integration synced once with `direction`.
async fn setup_as(strategy: &str, direction: &str) -> Setup {
    let salesforce = FakeSalesforce::start(100, "session").await;
    salesforce.add_rows("Opportunity", 10, 1);
    // The same names on both sides: the merge tests speak of Salesforce's
    // fields (conformance.rs maps to other platform names).
    let same_name = |f: &str| json!({"externalField": f, "shardField": f});
    let integration: Integration = serde_json::from_value(json!({
        "id": format!("sf-{}", Uuid::new_v4().simple()),
        "tenantId": Uuid::new_v4(),
        "providerName": "salesforce",
        "status": "connected",
        "credentialSecretName": "sf",
        "syncConfig": {
            "syncDirection": direction,
            "conflictResolution": strategy,
            "entityMappings": [{
                "externalEntity": "Opportunity", "shardTypeId": "c_opportunity", "enabled": true,
                "fieldMappings": [same_name("Name"), same_name("Amount"), same_name("StageName")]
            }]
        }
    }))
    .unwrap();
    let platform = FakePlatform::start(vec![integration.clone()]).await;
    platform.set_secret(
        "sf",
        json!({"type": "OAUTH2_TOKEN", "accessToken": "session", "tokenType": "Bearer", "instanceUrl": salesforce.url}),
    );
    let mut app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        secret_management_url: Some(platform.url.clone()),
        shard_manager_url: Some(platform.url.clone()),
        ..Default::default()
    })
    .await;
    let task = app
        .trigger_inbound(integration.tenant_id, &integration.id)
        .await;
    app.wait_for_task_end(integration.tenant_id, &task, TIMEOUT)
        .await;
    app.events
        .collect_until("integration.sync.completed", TIMEOUT)
        .await;
    Setup {
        app,
        salesforce,
        platform,
        integration,
    }
}

/// shard-manager's shard of ROW as last synced, with `changes` on top: a
/// `Shard` as integration-processors writes it.
fn shard_document(s: &Setup, changes: Value) -> Value {
    let mut data = json!({"Name": "Opportunity 3", "Amount": 1003, "StageName": "Prospecting", "riskScore": 0.4});
    for (k, v) in changes.as_object().unwrap() {
        data[k] = v.clone();
    }
    json!({
        "id": "shard-3",
        "tenantId": s.integration.tenant_id,
        "shardTypeId": "c_opportunity",
        "structuredData": data,
        "metadata": {"integrationId": s.integration.id, "externalId": ROW, "externalSource": s.integration.id},
        "revisionNumber": 2
    })
}

/// The shard changed at shard-manager, and its `shard.updated` (ids only).
fn shard_update(s: &Setup, changes: Value, correlation: Option<&str>) -> ShardUpdated {
    s.platform.set_shard("shard-3", shard_document(s, changes));
    ShardUpdated {
        event_id: Uuid::new_v4(),
        tenant_id: s.integration.tenant_id,
        shard_id: "shard-3".into(),
        shard_type_id: Some("c_opportunity".into()),
        metadata: EventMetadata {
            correlation_id: correlation.map(|c| c.parse().expect("a uuid")),
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn different_fields_edited_on_both_sides_converge_without_conflict() {
    let mut s = setup("manual").await;
    s.salesforce.edit("Opportunity", ROW, "Amount", json!(5000));

    let outcome = s
        .app
        .engine
        .handle_shard_updated(shard_update(&s, json!({"StageName": "Negotiation"}), None))
        .await
        .unwrap();

    assert_eq!(
        outcome,
        OutboundOutcome::Pushed {
            fields: vec!["StageName".into()]
        }
    );
    assert_eq!(
        s.salesforce.field("Opportunity", ROW, "StageName"),
        "Negotiation"
    );
    assert_eq!(
        s.salesforce.field("Opportunity", ROW, "Amount"),
        5000,
        "the remote change stays"
    );
    let events = s.app.events.drain_for(Duration::from_millis(500)).await;
    let synced = of_type(&events, "integration.data.synced");
    assert_eq!(synced.len(), 1);
    assert_eq!(
        synced[0]["data"]["changes"],
        json!([{"field": "StageName", "old": "Prospecting", "new": "Negotiation"}])
    );
    let to_platform = of_type(&events, "integration.data.raw");
    assert_eq!(
        to_platform.len(),
        1,
        "the remote change goes to the platform"
    );
    assert_eq!(to_platform[0]["data"]["rawData"]["Amount"], 5000);
    assert!(
        to_platform[0]["data"]["metadata"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "Amount")
    );
    assert!(
        !to_platform[0]["data"]["rawData"]
            .as_object()
            .unwrap()
            .contains_key("riskScore"),
        "platform-only fields stay home"
    );

    // Our own push does not come back as an inbound change.
    let task = s
        .app
        .trigger_inbound(s.integration.tenant_id, &s.integration.id)
        .await;
    let task = s
        .app
        .wait_for_task_end(s.integration.tenant_id, &task, TIMEOUT)
        .await;
    assert_eq!(task["recordsUpdated"], 0, "{task}");
    s.app.cleanup().await;
}

#[tokio::test]
async fn the_same_field_edited_on_both_sides_follows_each_strategy() {
    for (strategy, expected_remote, pushed) in
        [("source_wins", 5000, false), ("target_wins", 7000, true)]
    {
        let mut s = setup(strategy).await;
        s.salesforce.edit("Opportunity", ROW, "Amount", json!(5000));
        let outcome = s
            .app
            .engine
            .handle_shard_updated(shard_update(&s, json!({"Amount": 7000}), None))
            .await
            .unwrap();
        assert_eq!(
            s.salesforce.field("Opportunity", ROW, "Amount"),
            expected_remote,
            "{strategy}"
        );
        let events = s.app.events.drain_for(Duration::from_millis(400)).await;
        let to_platform = of_type(&events, "integration.data.raw");
        if pushed {
            assert_eq!(
                outcome,
                OutboundOutcome::Pushed {
                    fields: vec!["Amount".into()]
                },
                "{strategy}"
            );
            assert!(
                to_platform.is_empty(),
                "{strategy}: the platform already has the winner"
            );
        } else {
            assert_eq!(to_platform.len(), 1, "{strategy}");
            assert_eq!(to_platform[0]["data"]["rawData"]["Amount"], 5000);
        }
        assert!(
            of_type(&events, "integration.conflict.detected").is_empty(),
            "{strategy}"
        );
        s.app.cleanup().await;
    }
}

#[tokio::test]
async fn a_manual_conflict_changes_nothing_until_resolved_and_resolving_applies_it_on_both_sides() {
    let mut s = setup("manual").await;
    let tenant = s.integration.tenant_id;
    s.salesforce.edit("Opportunity", ROW, "Amount", json!(5000));

    let outcome = s
        .app
        .engine
        .handle_shard_updated(shard_update(
            &s,
            json!({"Amount": 7000, "StageName": "Won"}),
            None,
        ))
        .await
        .unwrap();

    let OutboundOutcome::Conflict { conflict_id } = outcome else {
        panic!("expected a conflict, got {outcome:?}")
    };
    assert_eq!(
        s.salesforce.field("Opportunity", ROW, "Amount"),
        5000,
        "nothing overwritten"
    );
    assert_eq!(
        s.salesforce.field("Opportunity", ROW, "StageName"),
        "Prospecting",
        "nothing overwritten"
    );
    let events = s.app.events.drain_for(Duration::from_millis(400)).await;
    let detected = of_type(&events, "integration.conflict.detected");
    assert_eq!(detected.len(), 1);
    assert_eq!(detected[0]["data"]["conflictId"], conflict_id.to_string());
    assert_eq!(detected[0]["data"]["fields"], json!(["Amount"]));

    let path = format!("/api/v1/sync/conflicts/{conflict_id}/resolve");
    let missing = s
        .app
        .authed(Method::POST, &path, tenant)
        .json(&json!({"resolution": "manual"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400, "manual needs values");
    let body = json!({"resolution": "manual", "values": {"Amount": 6000}});
    let response = s
        .app
        .authed(Method::POST, &path, tenant)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let resolved: Value = response.json().await.unwrap();
    assert_eq!(resolved["resolved"], true);
    assert_eq!(resolved["resolvedBy"], integration_tests::spawn::TEST_USER);
    assert_eq!(resolved["resolution"], "manual");
    assert!(resolved["resolvedAt"].is_string());
    assert_eq!(
        s.salesforce.field("Opportunity", ROW, "Amount"),
        6000,
        "the chosen value reached the provider"
    );
    assert_eq!(
        s.salesforce.field("Opportunity", ROW, "StageName"),
        "Won",
        "the one-sided change too"
    );
    let events = s.app.events.drain_for(Duration::from_millis(400)).await;
    let to_platform = of_type(&events, "integration.data.raw");
    assert_eq!(to_platform.len(), 1);
    assert_eq!(
        to_platform[0]["data"]["rawData"]["Amount"], 6000,
        "and the platform"
    );

    let again = s
        .app
        .authed(Method::POST, &path, tenant)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "repeating is harmless");
    assert!(
        s.app
            .events
            .drain_for(Duration::from_millis(300))
            .await
            .is_empty(),
        "and does nothing twice"
    );
    let other = s
        .app
        .authed(Method::POST, &path, tenant)
        .json(&json!({"resolution": "source_wins"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 409);
    s.app.cleanup().await;
}

#[tokio::test]
async fn a_provider_change_between_read_and_write_is_caught_and_merged_again() {
    let s = setup("manual").await;
    s.salesforce
        .edit_after_next_read(ROW, "Name", json!("Renamed by someone else"));

    let outcome = s
        .app
        .engine
        .handle_shard_updated(shard_update(&s, json!({"StageName": "Negotiation"}), None))
        .await
        .unwrap();

    let requests: Vec<String> = s
        .salesforce
        .requests()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert_eq!(
        outcome,
        OutboundOutcome::Pushed {
            fields: vec!["StageName".into()]
        },
        "{requests:?}"
    );
    assert_eq!(
        s.salesforce.field("Opportunity", ROW, "Name"),
        "Renamed by someone else",
        "their change survived: {requests:?}"
    );
    assert_eq!(
        s.salesforce.field("Opportunity", ROW, "StageName"),
        "Negotiation"
    );
    let patches = s
        .salesforce
        .requests()
        .iter()
        .filter(|(_, p)| p.starts_with("patch"))
        .count();
    assert_eq!(patches, 2, "the first, conditional, write was refused");
    s.app.cleanup().await;
}

/// ROW's record state as the store holds it.
async fn stored_state(s: &Setup) -> RecordState {
    let id = RecordState::document_id(&s.integration.id, "Opportunity", ROW);
    s.app
        .repository()
        .await
        .get(s.integration.tenant_id, &id)
        .await
        .unwrap()
        .expect("the inbound sync stored the record's state")
        .doc
}

/// An integration synced while it only read keeps no snapshots (no merge
/// needed one); switched to bidirectional, its merges have a base only where
/// the provider's record has not moved since. Where it moved there is no
/// common ancestor: every field the two sides hold differently goes to the
/// strategy (here a person), even the one only the platform edited, which
/// with a snapshot converges (`different_fields_edited_on_both_sides_…`).
#[tokio::test]
async fn after_a_switch_from_inbound_only_a_merge_has_a_base_only_where_the_provider_did_not_move()
{
    for provider_moved in [false, true] {
        let s = setup_as("manual", "inbound").await;
        let state = stored_state(&s).await;
        assert!(state.snapshot.is_none() && state.raw_hash.is_some());
        let mut bidirectional = s.integration.clone();
        bidirectional.sync_config.direction = Some(Direction::Bidirectional);
        s.platform.set_integration(&bidirectional);
        if provider_moved {
            s.salesforce.edit("Opportunity", ROW, "Amount", json!(5000));
        }

        let outcome = s
            .app
            .engine
            .handle_shard_updated(shard_update(&s, json!({"StageName": "Negotiation"}), None))
            .await
            .unwrap();

        if provider_moved {
            assert!(
                matches!(outcome, OutboundOutcome::Conflict { .. }),
                "{outcome:?}"
            );
            assert_eq!(
                s.salesforce.field("Opportunity", ROW, "StageName"),
                "Prospecting",
                "nothing written on a guess"
            );
            assert_eq!(s.salesforce.field("Opportunity", ROW, "Amount"), 5000);
        } else {
            assert_eq!(
                outcome,
                OutboundOutcome::Pushed {
                    fields: vec!["StageName".into()]
                }
            );
            assert_eq!(
                s.salesforce.field("Opportunity", ROW, "StageName"),
                "Negotiation"
            );
            let state = stored_state(&s).await;
            assert!(
                state.snapshot.is_some(),
                "the push is the next merge's base"
            );
        }
        s.app.cleanup().await;
    }
}

#[tokio::test]
async fn shard_updates_caused_by_our_own_sync_do_not_push() {
    let s = setup("manual").await;
    // The shard as our inbound sync wrote it: no field differs from the base.
    let outcome = s
        .app
        .engine
        .handle_shard_updated(shard_update(&s, json!({}), None))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        OutboundOutcome::Skipped("nothing changed since the last sync")
    );
    let patches = s
        .salesforce
        .requests()
        .iter()
        .filter(|(_, p)| p.starts_with("patch"))
        .count();
    assert_eq!(patches, 0);
    s.app.cleanup().await;
}

#[tokio::test]
async fn an_inbound_sync_of_a_bidirectional_integration_detects_the_same_conflicts() {
    let mut s = setup("manual").await;
    // The shard is linked to the record (a shard.updated that changed nothing).
    let linked = s
        .app
        .engine
        .handle_shard_updated(shard_update(&s, json!({}), None))
        .await
        .unwrap();
    assert_eq!(
        linked,
        OutboundOutcome::Skipped("nothing changed since the last sync")
    );
    // Then both sides change Amount: the platform in its shard, Salesforce in the row.
    s.platform
        .set_shard("shard-3", shard_document(&s, json!({"Amount": 7000})));
    s.salesforce.edit("Opportunity", ROW, "Amount", json!(5000));

    let task = s
        .app
        .trigger_inbound(s.integration.tenant_id, &s.integration.id)
        .await;
    let events = s
        .app
        .events
        .collect_until("integration.sync.completed", TIMEOUT)
        .await;

    let detected = of_type(&events, "integration.conflict.detected");
    assert_eq!(detected.len(), 1, "{events:?}");
    assert_eq!(detected[0]["data"]["entityId"], ROW);
    assert!(
        of_type(&events, "integration.data.raw").is_empty(),
        "the conflicting record is not published"
    );
    let task = s
        .app
        .wait_for_task_end(s.integration.tenant_id, &task, TIMEOUT)
        .await;
    assert_eq!(task["status"], "completed");
    assert_eq!(
        s.salesforce.field("Opportunity", ROW, "Amount"),
        5000,
        "nothing overwritten"
    );
    s.app.cleanup().await;
}

#[tokio::test]
async fn an_inbound_update_carries_its_field_change_set() {
    let mut s = setup("source_wins").await;
    s.salesforce
        .edit("Opportunity", ROW, "StageName", json!("Closed Won"));
    s.app
        .trigger_inbound(s.integration.tenant_id, &s.integration.id)
        .await;
    let events = s
        .app
        .events
        .collect_until("integration.sync.completed", TIMEOUT)
        .await;
    let raw = of_type(&events, "integration.data.raw");
    assert_eq!(raw.len(), 1);
    assert_eq!(
        raw[0]["data"]["changes"],
        json!([{"field": "StageName", "old": "Prospecting", "new": "Closed Won"}])
    );
    s.app.cleanup().await;
}

#[tokio::test]
async fn a_shard_update_carrying_our_own_correlation_id_is_not_pushed_back() {
    let mut s = setup("manual").await;
    s.salesforce.edit("Opportunity", ROW, "Amount", json!(4242));
    let task = s
        .app
        .trigger_inbound(s.integration.tenant_id, &s.integration.id)
        .await;
    let events = s
        .app
        .events
        .collect_until("integration.sync.completed", TIMEOUT)
        .await;
    let correlation = events.last().unwrap().1["metadata"]["correlationId"]
        .as_str()
        .unwrap()
        .to_owned();
    s.app
        .wait_for_task_end(s.integration.tenant_id, &task, TIMEOUT)
        .await;
    // processors write the synced record to the shard, and shard-manager says so
    let outcome = s
        .app
        .engine
        .handle_shard_updated(shard_update(
            &s,
            json!({"Amount": 4242, "StageName": "Edited meanwhile"}),
            Some(&correlation),
        ))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        OutboundOutcome::Skipped("our own write coming back")
    );
    s.app.cleanup().await;
}
