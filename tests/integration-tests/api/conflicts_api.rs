//! Listing and reading conflicts (resolving one is in bidirectional.rs).

use integration_tests::{SpawnOptions, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use sync_core::domain::{ConflictStrategy, SyncConflict};
use uuid::Uuid;

fn conflict(tenant: Uuid, integration: &str, entity: &str, resolved: bool) -> SyncConflict {
    SyncConflict {
        conflict_id: Uuid::new_v4(),
        task_id: Uuid::new_v4(),
        tenant_id: tenant,
        integration_id: integration.into(),
        entity_id: format!("ext-{}", Uuid::new_v4().simple()),
        entity_type: entity.into(),
        source_data: json!({"StageName": "Closed Won"}),
        target_data: json!({"StageName": "Negotiation"}),
        resolution_strategy: ConflictStrategy::Manual,
        base_data: json!({"StageName": "Prospecting"}),
        conflicting_fields: vec![],
        shard_id: None,
        resolution: None,
        resolved,
        resolved_at: None,
        resolved_by: None,
        created_at: sync_core::domain::time::now(),
    }
}

#[tokio::test]
async fn conflicts_are_filtered_and_read_within_the_tenant() {
    let app = spawn_app(SpawnOptions::default()).await;
    let tenant = Uuid::new_v4();
    let repo = app.repository().await;
    let open_opportunity = conflict(tenant, "int-1", "opportunity", false);
    for c in [
        open_opportunity.clone(),
        conflict(tenant, "int-1", "account", false),
        conflict(tenant, "int-2", "opportunity", true),
        conflict(Uuid::new_v4(), "int-1", "opportunity", false),
    ] {
        repo.create(&c).await.unwrap();
    }
    let list = |query: &'static str| {
        let request = app.authed(
            Method::GET,
            &format!("/api/v1/sync/conflicts{query}"),
            tenant,
        );
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            body["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(list("").await, 3);
    assert_eq!(list("?resolved=false").await, 2);
    assert_eq!(list("?integrationId=int-1").await, 2);
    assert_eq!(list("?entityType=opportunity&resolved=false").await, 1);

    let response = app
        .authed(
            Method::GET,
            &format!("/api/v1/sync/conflicts/{}", open_opportunity.conflict_id),
            tenant,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["entityId"], open_opportunity.entity_id.as_str());
    assert_eq!(body["resolutionStrategy"], "manual");
    assert_eq!(body["sourceData"]["StageName"], "Closed Won");

    let bad = app
        .authed(Method::GET, "/api/v1/sync/conflicts?resolved=maybe", tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    app.cleanup().await;
}
