//! `on-schedule` under an emulated Runtime API.

use std::time::Duration;

use integration_tests::{
    EventObserver,
    broker::{envelope, queue_exists},
    lambda::{
        RunningFunction, RuntimeApi, SalesforceSetup, deployment, message, mq_batch, response,
        schedule_event,
    },
};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_scheduled_sync_runs_to_its_end_within_the_invocation_and_the_timer_asks_what_is_due() {
    let setup = SalesforceSetup::start(&["Account", "Contact"], 30, "inbound").await;
    let deployment = deployment(
        std::slice::from_ref(&setup.integration),
        &setup.neighbours(),
    )
    .await;
    let mut observer = EventObserver::bind(&deployment.exchange).await;
    let api = RuntimeApi::start().await;
    let _function =
        RunningFunction::start(env!("CARGO_BIN_EXE_on-schedule"), &api, &deployment.env);
    let tenant = setup.integration.tenant_id;
    let scheduled = envelope("integration.sync.scheduled", tenant, json!({
        "integrationId": setup.integration.id, "tenantId": tenant, "trigger": "schedule", "scheduledAt": "2026-11-27T00:00:00Z"
    }))
    .to_string();

    let report = response(
        api.invoke(mq_batch(
            json!({"q::/": [message(scheduled.as_bytes(), "integration.sync.scheduled", false)]}),
        ))
        .await,
    );

    assert_eq!(report["handled"], 1);
    // The invocation answered only after the sync ended.
    let events = observer
        .collect_until("integration.sync.completed", Duration::from_secs(2))
        .await;
    assert_eq!(events.last().unwrap().1["data"]["recordsProcessed"], 60);

    let timer = response(api.invoke(schedule_event()).await);
    assert_eq!(timer["published"], "integration.sync.check_due");
    observer
        .collect_until("integration.sync.check_due", TIMEOUT)
        .await;
    assert!(
        !queue_exists(&deployment.queue).await,
        "a function declares no service queue: nothing would read it"
    );
}
