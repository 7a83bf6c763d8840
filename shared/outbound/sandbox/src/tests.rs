//! The sandbox keeps the provider port's paging and write guarantees.

use super::*;

fn integration(records: u64) -> Integration {
    serde_json::from_value(serde_json::json!({
        "id": "int-1",
        "tenantId": uuid::Uuid::new_v4(),
        "provider": "sandbox",
        "settings": {"sandbox": {"recordsPerEntity": records, "seed": 7}}
    }))
    .unwrap()
}

fn request(entity: &str, cursor: Option<String>, page_size: usize) -> PageRequest {
    PageRequest {
        entity_type: entity.into(),
        cursor,
        page_size,
        filters: None,
        modified_since: None,
    }
}

async fn walk(
    provider: &SandboxProvider,
    integration: &Integration,
    page_size: usize,
) -> Vec<ExternalRecord> {
    walk_since(provider, integration, page_size, None).await
}

async fn walk_since(
    provider: &SandboxProvider,
    integration: &Integration,
    page_size: usize,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Vec<ExternalRecord> {
    let mut cursor = None;
    let mut all = Vec::new();
    loop {
        let mut req = request("opportunity", cursor, page_size);
        req.modified_since = since;
        let page = provider.fetch_page(integration, req).await.unwrap();
        assert!(page.records.len() <= page_size);
        all.extend(page.records);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

#[tokio::test]
async fn paging_visits_every_record_once_in_modification_order() {
    let provider = SandboxProvider::default();
    let integration = integration(250);
    let records = walk(&provider, &integration, 40).await;
    assert_eq!(records.len(), 250);
    let mut ids: Vec<_> = records.iter().map(|r| r.external_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 250);
    assert!(
        records
            .windows(2)
            .all(|w| w[0].modified_at <= w[1].modified_at)
    );
    assert!(
        records
            .windows(2)
            .any(|w| w[0].modified_at == w[1].modified_at),
        "some records must share a timestamp"
    );
}

#[tokio::test]
async fn two_walks_return_identical_records() {
    let provider = SandboxProvider::default();
    let integration = integration(30);
    let first = walk(&provider, &integration, 7).await;
    let second = walk(&provider, &integration, 11).await;
    let texts = |rs: &[ExternalRecord]| {
        rs.iter()
            .map(|r| r.raw.get().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&first), texts(&second));
}

#[tokio::test]
async fn records_are_about_one_kibibyte_of_crm_json() {
    let provider = SandboxProvider::default();
    let page = provider
        .fetch_page(&integration(1), request("opportunity", None, 1))
        .await
        .unwrap();
    let raw = page.records[0].raw.get();
    let json: serde_json::Value = serde_json::from_str(raw).unwrap();
    assert_eq!(json["Id"], page.records[0].external_id);
    assert!(json["StageName"].is_string() && json["Amount"].is_number());
    assert!((700..1600).contains(&raw.len()), "{} bytes", raw.len());
}

#[tokio::test]
async fn a_pushed_change_moves_the_record_after_all_others_and_guards_concurrent_edits() {
    let provider = SandboxProvider::default();
    let integration = integration(5);
    let before = walk(&provider, &integration, 5).await;
    let target = before[2].clone();
    let mut fields = serde_json::Map::new();
    fields.insert("StageName".into(), "Closed Won".into());
    let push = |since| PushRequest {
        entity_type: "opportunity".into(),
        external_id: target.external_id.clone(),
        fields: fields.clone(),
        if_unmodified_since: Some(since),
    };
    let outcome = provider
        .push(&integration, push(target.modified_at))
        .await
        .unwrap();

    let after = walk(&provider, &integration, 2).await;
    assert_eq!(after.len(), 5, "the changed record appears once");
    let last = after.last().unwrap();
    assert_eq!(last.external_id, target.external_id);
    assert_eq!(last.modified_at, outcome.modified_at);
    let changed: serde_json::Value = serde_json::from_str(last.raw.get()).unwrap();
    assert_eq!(changed["StageName"], "Closed Won");

    let stale = provider.push(&integration, push(target.modified_at)).await;
    assert!(
        matches!(stale, Err(ProviderError::PreconditionFailed)),
        "{stale:?}"
    );
}

#[tokio::test]
async fn modified_since_returns_only_later_records_and_changes() {
    let provider = SandboxProvider::default();
    let integration = integration(30);
    let all = walk(&provider, &integration, 7).await;
    let since = all[10].modified_at;
    let later = walk_since(&provider, &integration, 7, Some(since)).await;
    assert_eq!(later.first().unwrap().modified_at, since, "inclusive bound");
    assert!(later.iter().all(|r| r.modified_at >= since));
    assert_eq!(
        later.len(),
        all.iter().filter(|r| r.modified_at >= since).count()
    );

    provider
        .delete(
            integration.tenant_id,
            &integration.id,
            "opportunity",
            &all[0].external_id,
        )
        .unwrap();
    let after_delete = walk_since(&provider, &integration, 7, Some(since)).await;
    let deleted = after_delete.last().unwrap();
    assert_eq!(deleted.external_id, all[0].external_id);
    assert!(deleted.deleted);
}

#[tokio::test]
async fn unknown_entities_and_records_are_not_found() {
    let provider = SandboxProvider::default();
    let integration = integration(5);
    let err = provider
        .fetch_page(&integration, request("invoice", None, 5))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::NotFound(_)), "{err:?}");
    let err = provider
        .push(
            &integration,
            PushRequest {
                entity_type: "opportunity".into(),
                external_id: "OPP-000000099".into(),
                fields: Default::default(),
                if_unmodified_since: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::NotFound(_)), "{err:?}");
}
