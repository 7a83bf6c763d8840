//! Conformance with the platform's own services (castiel2 commit 105c784f):
//! its broker topology, its envelope rule, its tokens both ways, its
//! documents, its `shard.updated`, its mapping results, and its
//! integration-manager fetch that ignores `offset`. Every fake here follows a
//! file of the platform's source (named where it is built); the event
//! observer holds every event this service publishes to the envelope rule.

use std::{collections::BTreeSet, time::Duration};

use integration_tests::{
    SpawnOptions, TestApp,
    broker::{envelope_from, of_type, published_ids, shard_updated},
    fakes::{platform::FakePlatform, salesforce::FakeSalesforce},
    platform_broker::{self, Vhost},
    sandbox_integration,
    spawn::{TEST_USER, test_settings},
    spawn_app, tokens,
};
use reqwest::Method;
use serde_json::{Value, json};
use sync_core::domain::events::{EventType, platform_rule};
use uuid::Uuid;
use wiring::App;

const TIMEOUT: Duration = Duration::from_secs(60);

/// The app with the platform's names on a virtual host of its own: exchange
/// `coder_events`, queue `integration_sync_service`, our default dead-letter
/// names, no queue expiry: `config/default.yaml` as deployed.
async fn app_on(vhost: &Vhost, integrations: Vec<sync_core::domain::Integration>) -> TestApp {
    let data = tempfile::tempdir().unwrap().keep();
    let mut settings = test_settings();
    let defaults = sync_core::config::load_from_str(include_str!("../../../config/default.yaml"))
        .unwrap()
        .rabbitmq;
    settings.rabbitmq = sync_core::config::RabbitMqSettings {
        url: Some(vhost.url.clone()),
        ..defaults
    };
    settings.storage.data_dir = data.display().to_string();
    spawn_app(SpawnOptions {
        like: Some(settings),
        integrations,
        container: true,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn on_a_broker_the_platform_declared_the_service_starts_and_its_records_reach_integration_processors()
 {
    let vhost = Vhost::create();
    platform_broker::declare_as_integration_processors(&vhost.url).await;
    platform_broker::declare_as_the_first_implementation(&vhost.url).await;
    let fixture = sandbox_integration(&["opportunity", "contact"], 15);
    let mut app = app_on(&vhost, vec![fixture.integration.clone()]).await;

    let task = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    let ended = app.wait_for_task_end(fixture.tenant, &task, TIMEOUT).await;
    assert_eq!(ended["status"], "completed", "{ended}");
    app.events
        .collect_until("integration.sync.completed", TIMEOUT)
        .await;

    // integration-processors' own queue holds every record, in a shape its
    // CRMDataMappingConsumer reads (IntegrationDataRawEvent).
    let raw = platform_broker::drain(&vhost.url, "integration_data_raw").await;
    assert_eq!(raw.len(), 30);
    for event in &raw {
        assert_eq!(platform_rule::violations(event), Vec::<String>::new());
        assert_eq!(event["type"], "integration.data.raw");
        let data = &event["data"];
        for field in [
            "integrationId",
            "tenantId",
            "entityType",
            "rawData",
            "externalId",
            "syncTaskId",
            "idempotencyKey",
            "correlationId",
        ] {
            assert!(!data[field].is_null(), "{field} missing in {data}");
        }
        assert!(data["metadata"].get("batchSize").is_none());
    }

    // A schedule from integration-manager reaches our queue and runs a sync.
    let scheduled = envelope_from(
        "integration-manager",
        "integration.sync.scheduled",
        fixture.tenant,
        json!({"integrationId": fixture.integration.id, "tenantId": fixture.tenant,
               "trigger": "scheduled", "scheduledAt": "2026-12-01T10:00:00.000Z"}),
    );
    app.send(&scheduled).await;
    let events = app
        .events
        .collect_until("integration.sync.started", TIMEOUT)
        .await;
    let started = of_type(&events, "integration.sync.started");
    assert_ne!(started.last().unwrap()["data"]["taskId"], task.as_str());
    app.events
        .collect_until("integration.sync.completed", TIMEOUT)
        .await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_queue_declared_otherwise_stops_the_start_naming_it_and_its_argument() {
    let vhost = Vhost::create();
    platform_broker::declare_as_integration_processors(&vhost.url).await;
    // What this service's previous release declared: a DLX argument.
    let connection = integration_tests::broker::connect_to(&vhost.url).await;
    let channel = connection.create_channel().await.unwrap();
    let mut arguments = lapin::types::FieldTable::default();
    arguments.insert(
        "x-dead-letter-exchange".into(),
        lapin::types::AMQPValue::LongString("coder_events.dlx".into()),
    );
    channel
        .queue_declare(
            "integration_sync_service".into(),
            lapin::options::QueueDeclareOptions::durable(),
            arguments,
        )
        .await
        .unwrap();
    let mut settings = test_settings();
    let data = tempfile::tempdir().unwrap();
    settings.storage.data_dir = data.path().display().to_string();
    settings.storage.integrations_file = format!(
        "{}/../../config/integrations.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    settings.rabbitmq = sync_core::config::RabbitMqSettings {
        url: Some(vhost.url.clone()),
        queue: "integration_sync_service".into(),
        queue_expires: std::time::Duration::ZERO,
        ..settings.rabbitmq
    };

    let error = match App::build(settings).await {
        Ok(_) => panic!("the start must fail"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("queue 'integration_sync_service'")
            && error.contains("x-dead-letter-exchange"),
        "{error}"
    );
}

/// One integration of the fake platform's for a sandbox tenant.
fn platform_integration(tenant: Uuid, entities: &[&str], records: u64, extra: Value) -> Value {
    let mappings: Vec<Value> = entities
        .iter()
        .map(|e| {
            json!({"id": format!("m-{e}"), "externalEntity": e, "shardTypeId": format!("c_{e}"),
                        "enabled": true, "fieldMappings": [
                            {"externalField": "StageName", "shardField": "stage"},
                            {"externalField": "Amount", "shardField": "amount"}]})
        })
        .collect();
    let mut document = json!({
        "id": Uuid::new_v4(), "tenantId": tenant, "integrationId": "catalog-sandbox",
        "providerName": "sandbox", "name": "Sandbox", "credentialSecretName": "unused",
        "authMethod": "apikey", "settings": {"sandbox": {"recordsPerEntity": records, "seed": 7}},
        "syncConfig": {"syncEnabled": true, "syncDirection": "inbound", "entityMappings": mappings,
                       "conflictResolution": "external_wins"},
        "status": "connected", "enabledAt": "2026-11-01T00:00:00.000Z", "enabledBy": "u",
        "createdAt": "2026-11-01T00:00:00.000Z", "updatedAt": "2026-11-01T00:00:00.000Z"
    });
    for (k, v) in extra.as_object().unwrap() {
        if k == "syncConfig" {
            for (ck, cv) in v.as_object().unwrap() {
                document["syncConfig"][ck] = cv.clone();
            }
        } else {
            document[k] = v.clone();
        }
    }
    document
}

fn id_of(document: &Value) -> String {
    document["id"].as_str().unwrap().to_owned()
}

/// A `Shard` as integration-processors creates it for a record.
fn shard_of(tenant: Uuid, integration: &str, external_id: &str, data: Value) -> Value {
    json!({
        "id": Uuid::new_v4(), "tenantId": tenant, "userId": format!("system:integration:{integration}"),
        "shardTypeId": "c_opportunity", "structuredData": data,
        "metadata": {"integrationId": integration, "externalId": external_id, "externalSource": integration,
                     "syncedAt": "2026-12-01T09:00:00.000Z"},
        "source": "integration", "sourceDetails": {"integrationId": integration, "externalId": external_id},
        "acl": [], "revisionId": Uuid::new_v4(), "revisionNumber": 2, "status": "active",
        "createdAt": "2026-12-01T09:00:00.000Z", "updatedAt": "2026-12-01T09:30:00.000Z"
    })
}

async fn sync_to_end(app: &TestApp, tenant: Uuid, integration: &str) -> Value {
    let task = app.trigger_inbound(tenant, integration).await;
    app.wait_for_task_end(tenant, &task, TIMEOUT).await
}

#[tokio::test]
async fn every_event_type_the_service_publishes_passes_the_platforms_envelope_rule() {
    let tenant = Uuid::new_v4();
    let big = platform_integration(
        tenant,
        &["opportunity"],
        150,
        json!({"syncConfig": {"syncDirection": "bidirectional", "conflictResolution": "manual"}}),
    );
    let small = platform_integration(tenant, &["contact"], 5, json!({}));
    let broken = platform_integration(tenant, &["invoice"], 5, json!({}));
    let long = platform_integration(tenant, &["account"], 50_000, json!({}));
    let platform = FakePlatform::start_with_documents(vec![
        big.clone(),
        small.clone(),
        broken.clone(),
        long.clone(),
    ])
    .await;
    platform.break_connection("conn-broken");
    let mut app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        shard_manager_url: Some(platform.url.clone()),
        page_size: Some(100),
        container: true,
        tweak: Some(|s| {
            s.mapping.batch_events = true;
            s.sync_scheduler.enabled = true;
            s.sync_scheduler.interval = std::time::Duration::from_millis(2_000);
            s.token_refresh.enabled = true;
            s.token_refresh.interval = std::time::Duration::from_millis(2_000);
        }),
        ..Default::default()
    })
    .await;
    let mut seen = Vec::new();
    let big_id = id_of(&big);

    // Inbound: batches above the threshold, single events below it.
    sync_to_end(&app, tenant, &big_id).await;
    sync_to_end(&app, tenant, &id_of(&small)).await;
    // A deletion at the provider.
    app.sandbox
        .delete(tenant, &big_id, "opportunity", "OPP-000000007")
        .unwrap();
    sync_to_end(&app, tenant, &big_id).await;
    // A failing run.
    sync_to_end(&app, tenant, &id_of(&broken)).await;
    seen.extend(app.events.drain_for(Duration::from_millis(300)).await);
    // A cancelled run, once it is under way.
    let long_task = app.trigger_inbound(tenant, &id_of(&long)).await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while app.get_task(tenant, &long_task).await["recordsProcessed"] == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the long run never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cancelled = app
        .authed(
            Method::POST,
            &format!("/api/v1/sync/tasks/{long_task}/cancel"),
            tenant,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        cancelled.status(),
        202,
        "a running task stops at its next page"
    );
    seen.extend(
        app.events
            .collect_until("integration.sync.cancelled", TIMEOUT)
            .await,
    );
    // Outbound: the platform changed a record; then both sides changed another.
    let pushed = shard_of(
        tenant,
        &big_id,
        "OPP-000000001",
        json!({"stage": "Pushed out"}),
    );
    platform.set_shard(pushed["id"].as_str().unwrap(), pushed.clone());
    app.send(&shard_updated(tenant, &pushed)).await;
    seen.extend(
        app.events
            .collect_until("integration.data.synced", TIMEOUT)
            .await,
    );
    let mut fields = serde_json::Map::new();
    fields.insert("StageName".into(), json!("Changed at the provider"));
    use sync_core::ports::Provider;
    app.sandbox
        .push(
            &serde_json::from_value(big.clone()).unwrap(),
            sync_core::ports::PushRequest {
                entity_type: "opportunity".into(),
                external_id: "OPP-000000002".into(),
                fields,
                if_unmodified_since: None,
            },
        )
        .await
        .unwrap();
    let conflicting = shard_of(
        tenant,
        &big_id,
        "OPP-000000002",
        json!({"stage": "Changed in the platform"}),
    );
    platform.set_shard(conflicting["id"].as_str().unwrap(), conflicting.clone());
    app.send(&shard_updated(tenant, &conflicting)).await;
    seen.extend(
        app.events
            .collect_until("integration.conflict.detected", TIMEOUT)
            .await,
    );
    // Token refreshes, one refused.
    for connection in ["conn-ok", "conn-broken"] {
        app.send(&envelope_from(
            "integration-manager",
            "integration.token.refresh-requested",
            tenant,
            json!({"connectionId": connection, "integrationId": big_id, "tenantId": tenant,
                   "expiresAt": "2026-12-01T11:00:00.000Z", "requestedAt": "2026-12-01T10:00:00.000Z"}),
        ))
        .await;
    }
    seen.extend(
        app.events
            .collect_until("integration.token.refresh_failed", TIMEOUT)
            .await,
    );
    seen.extend(app.events.drain_for(Duration::from_millis(500)).await);

    let published: BTreeSet<&str> = seen
        .iter()
        .filter(|(_, e)| e["source"]["service"] == "integration-sync")
        .map(|(k, _)| k.as_str())
        .collect();
    // A run handed on is published by functions only (the container runs
    // what it triggers); tests/integration-tests/lambda holds it to the rule.
    let expected: BTreeSet<&str> = EventType::PUBLISHED
        .iter()
        .filter(|t| **t != EventType::SyncRunRequested)
        .map(|t| t.name())
        .collect();
    assert_eq!(published, expected, "every path that publishes was taken");
    for (_, event) in seen
        .iter()
        .filter(|(_, e)| e["source"]["service"] == "integration-sync")
    {
        assert_eq!(platform_rule::violations(event), Vec::<String>::new());
    }
    app.cleanup().await;
}

#[tokio::test]
async fn the_auth_services_tokens_open_the_api_and_our_tokens_pass_the_platforms_middleware() {
    let fixture = sandbox_integration(&["contact"], 3);
    let platform = FakePlatform::start(vec![fixture.integration.clone()]).await;
    let app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        ..Default::default()
    })
    .await;
    let jwt = &app.settings.jwt;
    let tenant = fixture.tenant;
    let call = |token: String| {
        app.http
            .get(app.url("/api/v1/sync/tasks"))
            .bearer_auth(token)
            .header("X-Tenant-ID", tenant.to_string())
            .send()
    };

    assert_eq!(
        call(tokens::platform_session(jwt, tenant))
            .await
            .unwrap()
            .status(),
        200
    );
    let mut with_type = tokens::session_claims(tenant);
    with_type["type"] = json!("access");
    with_type["tenant_id"] = json!(tenant);
    with_type["iss"] = json!("coder");
    assert_eq!(
        call(tokens::signed(jwt, &with_type))
            .await
            .unwrap()
            .status(),
        200
    );
    let refused = call(tokens::refresh_token(jwt, tenant)).await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("claim `type`"),
        "{body}"
    );
    let mut disagreeing = tokens::session_claims(tenant);
    disagreeing["tenant_id"] = json!(Uuid::new_v4());
    let body: Value = call(tokens::signed(jwt, &disagreeing))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tenant_id"),
        "{body}"
    );

    // Outgoing: integration-manager (behind the platform's middleware) let us in.
    let task = app.trigger_inbound(tenant, &fixture.integration.id).await;
    let ended = app.wait_for_task_end(tenant, &task, TIMEOUT).await;
    assert_eq!(ended["status"], "completed");
    assert_eq!(ended["triggeredBy"], TEST_USER);
    let seen = platform.tokens_seen();
    assert!(!seen.is_empty());
    for claims in seen {
        assert_eq!(claims["type"], "access");
        assert_eq!(claims["tenantId"], tenant.to_string());
        assert!(platform_rule::is_uuid(claims["userId"].as_str().unwrap()));
        assert_eq!(claims["serviceName"], "integration-sync");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_shard_update_as_shard_manager_publishes_it_reaches_salesforce_in_salesforces_names() {
    let salesforce = FakeSalesforce::start(100, "session").await;
    salesforce.add_rows("Opportunity", 5, 1);
    let tenant = Uuid::new_v4();
    // integration.types.ts: providerName, instanceUrl on the integration,
    // fieldMappings from Salesforce's names to the platform's.
    let document = json!({
        "id": Uuid::new_v4(), "tenantId": tenant, "integrationId": "catalog-salesforce",
        "providerName": "salesforce", "name": "Acme", "credentialSecretName": "int-tenant-conn-creds",
        "authMethod": "oauth", "instanceUrl": salesforce.url, "settings": {},
        "syncConfig": {"syncEnabled": true, "syncDirection": "bidirectional", "conflictResolution": "external_wins",
            "entityMappings": [{"id": "m1", "externalEntity": "Opportunity", "shardTypeId": "c_opportunity", "enabled": true,
                "fieldMappings": [
                    {"externalField": "Name", "shardField": "name"},
                    {"externalField": "StageName", "shardField": "stage", "transform": "trim"},
                    {"externalField": "Amount", "shardField": "amount", "transform": "stringToNumber"}]}]},
        "status": "connected", "enabledAt": "2026-11-01T00:00:00.000Z", "enabledBy": "u",
        "createdAt": "2026-11-01T00:00:00.000Z", "updatedAt": "2026-11-01T00:00:00.000Z"
    });
    let integration = id_of(&document);
    let platform = FakePlatform::start_with_documents(vec![document]).await;
    // secret.types.ts OAuth2TokenSecret: no instance URL in it.
    platform.set_secret(
        "int-tenant-conn-creds",
        json!({"type": "OAUTH2_TOKEN", "accessToken": "session", "refreshToken": "r", "tokenType": "Bearer"}),
    );
    let mut app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        secret_management_url: Some(platform.url.clone()),
        shard_manager_url: Some(platform.url.clone()),
        container: true,
        ..Default::default()
    })
    .await;
    let base = sync_to_end(&app, tenant, &integration).await;
    assert_eq!(base["status"], "completed", "{base}");
    app.events
        .collect_until("integration.sync.completed", TIMEOUT)
        .await;
    let row = "006000000000000002";
    // The shard as integration-processors mapped it, then edited in the platform.
    let shard = shard_of(
        tenant,
        &integration,
        row,
        json!({"name": "Opportunity 2", "stage": "Negotiation", "amount": 1002, "riskScore": 0.7}),
    );
    platform.set_shard(shard["id"].as_str().unwrap(), shard.clone());

    app.send(&shard_updated(tenant, &shard)).await;
    let events = app
        .events
        .collect_until("integration.data.synced", TIMEOUT)
        .await;

    let patches = salesforce.patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0].0, row);
    assert_eq!(
        Value::Object(patches[0].1.clone()),
        json!({"StageName": "Negotiation"}),
        "only what the platform changed, in Salesforce's names"
    );
    let synced = &of_type(&events, "integration.data.synced")[0]["data"];
    assert_eq!(synced["shardId"], shard["id"]);
    assert_eq!(synced["externalId"], row);
    app.cleanup().await;
}

/// An integration of a provider with no adapter here: integration-manager's
/// own adapter serves `records` through its `fetch`.
async fn through_integration_manager(
    records: Vec<Value>,
    extra: Value,
) -> (Uuid, Value, FakePlatform) {
    let tenant = Uuid::new_v4();
    let mut extra = extra;
    extra["providerName"] = json!("google_workspace");
    let document = platform_integration(tenant, &["event"], 0, extra);
    let platform = FakePlatform::start_with_documents(vec![document.clone()]).await;
    platform.set_fetchable(records);
    (tenant, document, platform)
}

#[tokio::test]
async fn an_integration_manager_adapter_that_ignores_offset_ends_the_run_with_the_reason() {
    let (tenant, document, platform) = through_integration_manager(
        (0..1200)
            .map(|i| json!({"id": format!("evt-{i}"), "summary": format!("Event {i}")}))
            .collect(),
        json!({}),
    )
    .await;
    platform.ignore_offset();
    let app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        // Pages of 500: the adapter's first answer is a full page.
        tweak: Some(|s| {
            s.sync_limits.max_records_per_sync = 5000;
            s.sync_limits.integration_manager_page_size = 500;
        }),
        ..Default::default()
    })
    .await;

    let started = std::time::Instant::now();
    let task = sync_to_end(&app, tenant, &id_of(&document)).await;

    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        task["error"].as_str().unwrap().contains("same page"),
        "{task}"
    );
    assert_eq!(
        platform.fetch_calls(),
        2,
        "stopped at the first repeated page"
    );
    assert!(started.elapsed() < TIMEOUT);
    app.cleanup().await;
}

#[tokio::test]
async fn a_proxy_walk_is_bounded_by_what_it_reads_and_the_next_run_goes_on_from_its_page() {
    let (tenant, document, platform) = through_integration_manager(
        (0..1200)
            .map(|i| json!({"id": format!("evt-{i:04}"), "updatedAt": "2026-11-30T10:00:00.000Z"}))
            .collect(),
        json!({}),
    )
    .await;
    let mut app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        page_size: Some(200),
        tweak: Some(|s| s.sync_limits.max_records_per_sync = 500),
        ..Default::default()
    })
    .await;
    let id = id_of(&document);

    let mut published = std::collections::HashMap::<String, usize>::new();
    let mut runs = Vec::new();
    for _ in 0..4 {
        let task = sync_to_end(&app, tenant, &id).await;
        let events = app
            .events
            .collect_until("integration.sync.completed", TIMEOUT)
            .await;
        for (record, n) in published_ids(&events) {
            *published.entry(record).or_default() += n;
        }
        runs.push((
            task["recordsProcessed"].as_u64().unwrap(),
            task["moreRemaining"].as_bool().unwrap_or(false),
        ));
        if runs.last().is_some_and(|(_, more)| !more) {
            break;
        }
    }
    // Pages of 200 and a budget of 500: each run stops after its third page;
    // the second ends on a full page, so only the third finds the end.
    assert_eq!(runs, [(600, true), (600, true), (0, false)]);
    assert_eq!(published.len(), 1200, "every record, across runs");
    assert!(published.values().all(|n| *n == 1));
    app.cleanup().await;
}

#[tokio::test]
async fn documents_the_platform_serialises_as_empty_objects_are_named_not_crashed_on() {
    let fixture = sandbox_integration(&["opportunity"], 3);
    let platform = FakePlatform::start(vec![fixture.integration.clone()]).await;
    platform.answer_empty_documents();
    let app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        shard_manager_url: Some(platform.url.clone()),
        ..Default::default()
    })
    .await;

    let response = app
        .trigger(
            fixture.tenant,
            json!({"integrationId": fixture.integration.id, "direction": "inbound"}),
        )
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert_eq!(body["error"]["code"], "integration_invalid");
    assert!(
        message.contains("integration-manager") && message.contains("empty object"),
        "{message}"
    );

    let shard = shard_of(
        fixture.tenant,
        &fixture.integration.id,
        "OPP-000000001",
        json!({}),
    );
    platform.set_shard(shard["id"].as_str().unwrap(), shard.clone());
    let event: sync_core::domain::events::EventEnvelope<Value> =
        serde_json::from_value(shard_updated(fixture.tenant, &shard)).unwrap();
    let error = app
        .engine
        .handle_shard_updated(
            sync_core::domain::events::ShardUpdated::from_envelope(&event).unwrap(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("shard-manager") && error.contains("empty object"),
        "{error}"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn an_unknown_conflict_mode_fails_that_integration_naming_the_field() {
    let tenant = Uuid::new_v4();
    let document = platform_integration(
        tenant,
        &["opportunity"],
        3,
        json!({"syncConfig": {"conflictResolution": "coin_flip"}}),
    );
    let platform = FakePlatform::start_with_documents(vec![document.clone()]).await;
    let app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        ..Default::default()
    })
    .await;

    let response = app
        .trigger(
            tenant,
            json!({"integrationId": id_of(&document), "direction": "inbound"}),
        )
        .await;

    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("syncConfig.conflictResolution") && message.contains("coin_flip"),
        "{message}"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn outbound_for_an_integration_reached_through_integration_manager_is_refused_at_once() {
    let (tenant, document, platform) = through_integration_manager(
        vec![],
        json!({"syncConfig": {"syncDirection": "bidirectional", "entityMappings": [
            {"externalEntity": "event", "shardTypeId": "c_opportunity", "enabled": true, "fieldMappings": []}]}}),
    )
    .await;
    let app = spawn_app(SpawnOptions {
        integration_manager_url: Some(platform.url.clone()),
        shard_manager_url: Some(platform.url.clone()),
        ..Default::default()
    })
    .await;
    let shard = shard_of(tenant, &id_of(&document), "evt-1", json!({"stage": "x"}));
    platform.set_shard(shard["id"].as_str().unwrap(), shard.clone());
    let event: sync_core::domain::events::EventEnvelope<Value> =
        serde_json::from_value(shard_updated(tenant, &shard)).unwrap();

    let outcome = app
        .engine
        .handle_shard_updated(
            sync_core::domain::events::ShardUpdated::from_envelope(&event).unwrap(),
        )
        .await
        .unwrap();

    let sync_core::engine::outbound::OutboundOutcome::Refused(why) = outcome else {
        panic!("refused, not {outcome:?}");
    };
    assert!(why.contains("integration-manager"), "{why}");
    assert_eq!(platform.fetch_calls(), 0, "nothing was read first");
    app.cleanup().await;
}
