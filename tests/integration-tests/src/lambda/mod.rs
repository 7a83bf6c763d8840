//! Function tests' support: the Lambda Runtime API emulated on port 0 with a
//! function binary run against it, a deployment's environment (the real
//! RabbitMQ under fresh names, a fresh Cosmos DB database on the emulator),
//! and events shaped as Amazon MQ and EventBridge deliver them.

pub mod runtime_api;
pub mod sandbox;

use base64::Engine;
use serde_json::{Value, json};
use sync_core::{domain::Integration, repository::Repository};
use uuid::Uuid;

pub use runtime_api::{Outcome, RunningFunction, RuntimeApi};
pub use sandbox::{EventSourceMapping, Invocation, LambdaFunction, function_binary};

use crate::spawn::test_settings;

/// Every function binary, as `infra/template.yaml` deploys them.
pub const FUNCTIONS: [&str; 6] = [
    "http-api",
    "on-shard-updated",
    "on-webhook",
    "on-schedule",
    "token-refresher",
    "on-mapping-result",
];

/// Names no other test uses, a database of its own, and the environment a
/// deployment would give the function.
pub struct Deployment {
    pub env: Vec<(&'static str, String)>,
    pub exchange: String,
    pub queue: String,
    pub dead_letter_queue: String,
    /// The function's database, to arrange or inspect state directly.
    pub repo: Repository,
    _files: tempfile::TempDir,
}

/// A deployment whose integrations come from a file (no integration-manager)
/// and whose store is a fresh database on the Cosmos DB emulator, created
/// here (the emulator now and then mints an id its client cannot read; the
/// helper retries with another database).
pub async fn deployment(
    integrations: &[Integration],
    extra: &[(&'static str, String)],
) -> Deployment {
    let settings = test_settings();
    let store = crate::cosmos::connect_deployment_database().await;
    let database = store.database_id().to_owned();
    let files = tempfile::tempdir().unwrap();
    let integrations_file = files.path().join("integrations.yaml");
    std::fs::write(
        &integrations_file,
        json!({"integrations": integrations}).to_string(),
    )
    .unwrap();
    let r = &settings.rabbitmq;
    let mut env = vec![
        ("RABBITMQ_URL", crate::rabbitmq_url()),
        ("RABBITMQ_EXCHANGE", r.exchange.clone()),
        ("RABBITMQ_QUEUE", r.queue.clone()),
        ("RABBITMQ_DLX", r.dead_letter_exchange.clone()),
        ("RABBITMQ_DLQ", r.dead_letter_queue.clone()),
        (
            "INTEGRATION_SYNC__RABBITMQ__QUEUE_EXPIRES_MS",
            "60000".into(),
        ),
        ("COSMOS_DB_ENDPOINT", crate::cosmos::emulator_endpoint()),
        ("COSMOS_DB_KEY", crate::cosmos::EMULATOR_KEY.into()),
        ("COSMOS_DB_DATABASE_ID", database),
        ("COSMOS_DB_CREATE_CONTAINERS", "false".into()),
        ("COSMOS_DB_ALLOW_HTTP2", "false".into()),
        ("INTEGRATIONS_FILE", integrations_file.display().to_string()),
        ("SYNC_MIN_INTERVAL_MINUTES", "0".into()),
    ];
    env.extend(extra.iter().cloned());
    Deployment {
        env,
        exchange: r.exchange.clone(),
        queue: r.queue.clone(),
        dead_letter_queue: r.dead_letter_queue.clone(),
        repo: Repository::new(std::sync::Arc::new(store)),
        _files: files,
    }
}

/// One message as Amazon MQ delivers it: nulls included, body base64.
pub fn message(body: &[u8], event_type: &str, redelivered: bool) -> Value {
    json!({
        "basicProperties": {
            "contentType": "application/json", "contentEncoding": null, "headers": null, "deliveryMode": 2,
            "priority": null, "correlationId": null, "replyTo": null, "expiration": null, "messageId": null,
            "timestamp": null, "type": event_type, "userId": null, "appId": null, "clusterId": null, "bodySize": body.len()
        },
        "redelivered": redelivered,
        "data": base64::engine::general_purpose::STANDARD.encode(body)
    })
}

/// An Amazon MQ for RabbitMQ batch: messages by `"queue::vhost"`.
pub fn mq_batch(queues: Value) -> Value {
    json!({
        "eventSource": "aws:rmq",
        "eventSourceArn": "arn:aws:mq:eu-west-1:123456789012:broker:platform:b-1234",
        "rmqMessagesByQueue": queues
    })
}

/// An EventBridge scheduled event.
pub fn schedule_event() -> Value {
    json!({
        "version": "0", "id": Uuid::new_v4(), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-27T00:00:00Z", "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/check-due"], "detail": {}
    })
}

/// The function's answer; a failed invocation fails the test.
pub fn response(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Response(body) => body,
        Outcome::Error(error) => panic!("the function failed: {error}"),
    }
}

/// A Salesforce integration of a fresh tenant, as integration-manager
/// stores it, over a fake Salesforce holding `rows` rows of each object, with
/// its credentials in a fake secret-management (which also serves shards).
pub struct SalesforceSetup {
    pub salesforce: crate::fakes::salesforce::FakeSalesforce,
    pub platform: crate::fakes::platform::FakePlatform,
    pub integration: Integration,
}

impl SalesforceSetup {
    pub async fn start(objects: &[&str], rows: usize, direction: &str) -> Self {
        let salesforce = crate::fakes::salesforce::FakeSalesforce::start(100, "session").await;
        for object in objects {
            salesforce.add_rows(object, rows, 1);
        }
        let mappings: Vec<Value> = objects
            .iter()
            .map(|o| json!({
                "externalEntity": o, "shardTypeId": format!("c_{}", o.to_lowercase()), "enabled": true,
                "fieldMappings": [{"externalField": "StageName", "shardField": "stage"}]
            }))
            .collect();
        let integration: Integration = serde_json::from_value(json!({
            "id": Uuid::new_v4(), "tenantId": Uuid::new_v4(), "providerName": "salesforce",
            "status": "connected", "instanceUrl": salesforce.url, "credentialSecretName": "sf-creds",
            "syncConfig": {"syncDirection": direction, "conflictResolution": "external_wins",
                           "entityMappings": mappings}
        }))
        .expect("a valid integration");
        let platform = crate::fakes::platform::FakePlatform::start(vec![]).await;
        platform.set_secret(
            "sf-creds",
            json!({"type": "OAUTH2_TOKEN", "accessToken": "session", "tokenType": "Bearer"}),
        );
        SalesforceSetup {
            salesforce,
            platform,
            integration,
        }
    }

    /// The deployment's environment for secret-management and shard-manager.
    pub fn neighbours(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SECRET_MANAGEMENT_URL", self.platform.url.clone()),
            ("SHARD_MANAGER_URL", self.platform.url.clone()),
        ]
    }
}
