//! `on-webhook` under an emulated Runtime API.

use std::time::Duration;

use integration_tests::{
    EventObserver,
    broker::envelope,
    lambda::{
        RunningFunction, RuntimeApi, SalesforceSetup, deployment, message, mq_batch, response,
    },
};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_webhook_syncs_only_what_the_provider_said_changed() {
    let setup = SalesforceSetup::start(&["Account", "Contact"], 15, "inbound").await;
    let deployment = deployment(
        std::slice::from_ref(&setup.integration),
        &setup.neighbours(),
    )
    .await;
    let mut observer = EventObserver::bind(&deployment.exchange).await;
    let api = RuntimeApi::start().await;
    let _function = RunningFunction::start(env!("CARGO_BIN_EXE_on-webhook"), &api, &deployment.env);
    let tenant = setup.integration.tenant_id;
    let received = envelope(
        "integration.webhook.received",
        tenant,
        json!({
            "integrationId": setup.integration.id, "tenantId": tenant, "entityType": "Contact"
        }),
    )
    .to_string();

    response(
        api.invoke(mq_batch(
            json!({"q::/": [message(received.as_bytes(), "integration.webhook.received", false)]}),
        ))
        .await,
    );

    let events = observer
        .collect_until("integration.sync.completed", TIMEOUT)
        .await;
    let completed = &events.last().unwrap().1["data"];
    assert_eq!(
        completed["recordsProcessed"], 15,
        "only the entity the webhook named"
    );
    assert_eq!(completed["entityTypes"], json!(["Contact"]));
}
