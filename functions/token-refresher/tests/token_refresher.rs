//! `token-refresher` under an emulated Runtime API.

use std::time::Duration;

use integration_tests::{
    EventObserver,
    broker::envelope,
    fakes::platform::FakePlatform,
    lambda::{
        RunningFunction, RuntimeApi, deployment, message, mq_batch, response, schedule_event,
    },
};
use serde_json::json;
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_refresh_request_refreshes_through_integration_manager_and_the_timer_asks_what_expires() {
    let platform = FakePlatform::start(vec![]).await;
    let deployment = deployment(&[], &[("INTEGRATION_MANAGER_URL", platform.url.clone())]).await;
    let mut observer = EventObserver::bind(&deployment.exchange).await;
    let api = RuntimeApi::start().await;
    let _function =
        RunningFunction::start(env!("CARGO_BIN_EXE_token-refresher"), &api, &deployment.env);
    let tenant = Uuid::new_v4();
    let request = envelope("integration.token.refresh-requested", tenant, json!({
        "connectionId": "conn-9", "integrationId": "int-9", "tenantId": tenant, "expiresAt": "2026-11-27T01:00:00Z", "requestedAt": "2026-11-27T00:00:00Z"
    }))
    .to_string();

    response(api.invoke(mq_batch(json!({"q::/": [message(request.as_bytes(), "integration.token.refresh-requested", false)]}))).await);
    let events = observer
        .collect_until("integration.token.refreshed", TIMEOUT)
        .await;
    assert_eq!(events.last().unwrap().1["data"]["connectionId"], "conn-9");
    assert_eq!(platform.refresh_calls(), 1);

    let timer = response(api.invoke(schedule_event()).await);
    assert_eq!(timer["published"], "integration.token.check_expiring");
    let events = observer
        .collect_until("integration.token.check_expiring", TIMEOUT)
        .await;
    assert!(events.last().unwrap().1["data"]["thresholdTime"].is_string());
}
