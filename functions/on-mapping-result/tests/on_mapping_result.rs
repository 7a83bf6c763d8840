//! `on-mapping-result` under an emulated Runtime API.

use integration_tests::{
    broker::envelope,
    lambda::{RunningFunction, RuntimeApi, deployment, message, mq_batch, response},
};
use serde_json::json;
use sync_core::domain::{Direction, SyncTask};
use uuid::Uuid;

#[tokio::test]
async fn mapping_results_count_on_their_task() {
    let tenant = Uuid::new_v4();
    let deployment = deployment(&[], &[]).await;
    let task = SyncTask::new_pending(tenant, "int-1".into(), Direction::Inbound, None, None, None);
    deployment.repo.create(&task).await.unwrap();
    let api = RuntimeApi::start().await;
    let _function = RunningFunction::start(
        env!("CARGO_BIN_EXE_on-mapping-result"),
        &api,
        &deployment.env,
    );
    let mapped = envelope("integration.data.mapped", tenant, json!({"syncTaskId": task.task_id, "externalId": "CON-000000000", "shardId": "s-1", "created": true})).to_string();
    let failed = envelope(
        "integration.data.mapping.failed",
        tenant,
        json!({"syncTaskId": task.task_id, "externalId": "CON-000000001", "error": "no account"}),
    )
    .to_string();

    let report = response(
        api.invoke(mq_batch(json!({"q::/": [
            message(mapped.as_bytes(), "integration.data.mapped", false),
            message(failed.as_bytes(), "integration.data.mapping.failed", false)
        ]})))
        .await,
    );

    assert_eq!(report["handled"], 2);
    let stored = deployment
        .repo
        .get::<SyncTask>(tenant, &task.task_id.to_string())
        .await
        .unwrap()
        .unwrap()
        .doc;
    assert_eq!(
        (stored.shards_created, stored.counters.records_failed),
        (1, 1)
    );
}
