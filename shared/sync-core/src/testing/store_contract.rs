//! The store port's contract, as executable checks. Every adapter runs all of
//! them (SQLite in unit tests; Cosmos DB against the emulator). Each check uses
//! fresh random tenants, so adapters may share one database between checks.

use serde_json::json;
use uuid::Uuid;

use crate::ports::store::{Collection, DocumentStore, Filter, HeadedText, Query, StoreError};

pub async fn run_all(store: &dyn DocumentStore) {
    create_then_read_returns_the_document(store).await;
    create_twice_is_already_exists(store).await;
    reading_a_missing_document_is_none(store).await;
    tenants_never_see_each_other_even_with_identical_ids(store).await;
    replace_with_the_current_etag_wins_and_changes_the_etag(store).await;
    replace_with_a_stale_etag_is_precondition_failed_and_writes_nothing(store).await;
    replace_of_a_missing_document_is_not_found(store).await;
    upsert_creates_and_overwrites(store).await;
    delete_honours_etag_and_reports_missing(store).await;
    collections_are_separate(store).await;
    queries_filter_order_and_page_within_one_tenant(store).await;
    a_forged_continuation_token_is_refused(store).await;
    racing_read_modify_writes_lose_no_update(store).await;
    batch_reads_and_writes_stay_in_their_partition(store).await;
    projected_reads_hold_only_the_fields_asked_for(store).await;
    a_head_answers_only_for_its_own_fields_and_version(store).await;
    store.health().await.expect("healthy store");
}

fn doc(id: &str, tenant: Uuid, value: i64) -> serde_json::Value {
    json!({"id": id, "tenantId": tenant.to_string(), "value": value})
}

pub async fn create_then_read_returns_the_document(store: &dyn DocumentStore) {
    let tenant = Uuid::new_v4();
    let etag = store
        .create(Collection::SyncTasks, tenant, "a", doc("a", tenant, 1))
        .await
        .expect("create");
    let read = store
        .read(Collection::SyncTasks, tenant, "a")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(read.etag, etag);
    assert_eq!(read.id, "a");
    assert_eq!(read.body["value"], 1);
}

pub async fn create_twice_is_already_exists(store: &dyn DocumentStore) {
    let tenant = Uuid::new_v4();
    store
        .create(Collection::SyncTasks, tenant, "a", doc("a", tenant, 1))
        .await
        .unwrap();
    let second = store
        .create(Collection::SyncTasks, tenant, "a", doc("a", tenant, 2))
        .await;
    assert!(
        matches!(second, Err(StoreError::AlreadyExists)),
        "{second:?}"
    );
    let read = store
        .read(Collection::SyncTasks, tenant, "a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.body["value"], 1, "the first document must survive");
}

pub async fn reading_a_missing_document_is_none(store: &dyn DocumentStore) {
    let read = store
        .read(Collection::SyncTasks, Uuid::new_v4(), "missing")
        .await
        .unwrap();
    assert!(read.is_none());
}

pub async fn tenants_never_see_each_other_even_with_identical_ids(store: &dyn DocumentStore) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    store
        .create(Collection::SyncTasks, a, "same", doc("same", a, 1))
        .await
        .unwrap();
    store
        .create(Collection::SyncTasks, b, "same", doc("same", b, 2))
        .await
        .unwrap();
    let read_a = store
        .read(Collection::SyncTasks, a, "same")
        .await
        .unwrap()
        .unwrap();
    let read_b = store
        .read(Collection::SyncTasks, b, "same")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read_a.body["value"], 1);
    assert_eq!(read_b.body["value"], 2);
    store
        .delete(Collection::SyncTasks, a, "same", None)
        .await
        .unwrap();
    assert!(
        store
            .read(Collection::SyncTasks, b, "same")
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn replace_with_the_current_etag_wins_and_changes_the_etag(store: &dyn DocumentStore) {
    let tenant = Uuid::new_v4();
    let first = store
        .create(Collection::SyncTasks, tenant, "a", doc("a", tenant, 1))
        .await
        .unwrap();
    let second = store
        .replace(
            Collection::SyncTasks,
            tenant,
            "a",
            doc("a", tenant, 2),
            &first,
        )
        .await
        .expect("replace with current etag");
    assert_ne!(first, second);
    let read = store
        .read(Collection::SyncTasks, tenant, "a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.body["value"], 2);
    assert_eq!(read.etag, second);
}

pub async fn replace_with_a_stale_etag_is_precondition_failed_and_writes_nothing(
    store: &dyn DocumentStore,
) {
    let tenant = Uuid::new_v4();
    let stale = store
        .create(Collection::SyncTasks, tenant, "a", doc("a", tenant, 1))
        .await
        .unwrap();
    store
        .replace(
            Collection::SyncTasks,
            tenant,
            "a",
            doc("a", tenant, 2),
            &stale,
        )
        .await
        .unwrap();
    let lost = store
        .replace(
            Collection::SyncTasks,
            tenant,
            "a",
            doc("a", tenant, 3),
            &stale,
        )
        .await;
    assert!(
        matches!(lost, Err(StoreError::PreconditionFailed)),
        "{lost:?}"
    );
    let read = store
        .read(Collection::SyncTasks, tenant, "a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.body["value"], 2);
}

pub async fn replace_of_a_missing_document_is_not_found(store: &dyn DocumentStore) {
    let tenant = Uuid::new_v4();
    let etag = store
        .create(Collection::SyncTasks, tenant, "a", doc("a", tenant, 1))
        .await
        .unwrap();
    let result = store
        .replace(
            Collection::SyncTasks,
            tenant,
            "b",
            doc("b", tenant, 1),
            &etag,
        )
        .await;
    assert!(
        matches!(
            result,
            Err(StoreError::NotFound) | Err(StoreError::PreconditionFailed)
        ),
        "{result:?}"
    );
}

pub async fn upsert_creates_and_overwrites(store: &dyn DocumentStore) {
    let tenant = Uuid::new_v4();
    store
        .upsert(Collection::Executions, tenant, "u", doc("u", tenant, 1))
        .await
        .unwrap();
    store
        .upsert(Collection::Executions, tenant, "u", doc("u", tenant, 2))
        .await
        .unwrap();
    let read = store
        .read(Collection::Executions, tenant, "u")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.body["value"], 2);
}

pub async fn delete_honours_etag_and_reports_missing(store: &dyn DocumentStore) {
    let tenant = Uuid::new_v4();
    let stale = store
        .create(Collection::Webhooks, tenant, "d", doc("d", tenant, 1))
        .await
        .unwrap();
    let current = store
        .replace(
            Collection::Webhooks,
            tenant,
            "d",
            doc("d", tenant, 2),
            &stale,
        )
        .await
        .unwrap();
    let refused = store
        .delete(Collection::Webhooks, tenant, "d", Some(&stale))
        .await;
    assert!(
        matches!(refused, Err(StoreError::PreconditionFailed)),
        "{refused:?}"
    );
    store
        .delete(Collection::Webhooks, tenant, "d", Some(&current))
        .await
        .expect("delete with current etag");
    let again = store.delete(Collection::Webhooks, tenant, "d", None).await;
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
}

pub async fn collections_are_separate(store: &dyn DocumentStore) {
    let tenant = Uuid::new_v4();
    store
        .create(Collection::Conflicts, tenant, "c", doc("c", tenant, 1))
        .await
        .unwrap();
    assert!(
        store
            .read(Collection::Webhooks, tenant, "c")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn queries_filter_order_and_page_within_one_tenant(store: &dyn DocumentStore) {
    let (tenant, stranger) = (Uuid::new_v4(), Uuid::new_v4());
    for i in 0..7 {
        let id = format!("t{i}");
        let body = json!({"id": id, "tenantId": tenant.to_string(), "status": if i % 2 == 0 { "done" } else { "open" },
                          "createdAt": format!("2026-01-0{}T00:00:00Z", i + 1), "n": i});
        store
            .create(Collection::SyncTasks, tenant, &id, body)
            .await
            .unwrap();
        // Same ids and values in another tenant: must never appear.
        let body = json!({"id": id, "tenantId": stranger.to_string(), "status": "done",
                          "createdAt": format!("2026-01-0{}T00:00:00Z", i + 1), "n": i});
        store
            .create(Collection::SyncTasks, stranger, &id, body)
            .await
            .unwrap();
    }
    let query = Query {
        filters: vec![Filter::eq("status", "done")],
        order_by: "createdAt",
        descending: true,
    };
    let mut seen = Vec::new();
    let mut continuation: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .query(
                Collection::SyncTasks,
                tenant,
                &query,
                3,
                continuation.as_deref(),
            )
            .await
            .expect("query");
        pages += 1;
        assert!(page.documents.len() <= 3);
        for doc in &page.documents {
            assert_eq!(doc.body["tenantId"], tenant.to_string());
            seen.push(doc.body["n"].as_i64().unwrap());
        }
        match page.continuation {
            Some(next) => continuation = Some(next),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(seen, [6, 4, 2, 0], "filtered, newest first, each once");

    let range = Query {
        filters: vec![
            Filter::gte("createdAt", "2026-01-03T00:00:00Z"),
            Filter::lte("createdAt", "2026-01-05T00:00:00Z"),
        ],
        order_by: "createdAt",
        descending: false,
    };
    let page = store
        .query(Collection::SyncTasks, tenant, &range, 50, None)
        .await
        .unwrap();
    let ns: Vec<i64> = page
        .documents
        .iter()
        .map(|d| d.body["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, [2, 3, 4]);
    assert!(page.continuation.is_none(), "{:?}", page.continuation);

    let empty = store
        .query(Collection::SyncTasks, Uuid::new_v4(), &query, 10, None)
        .await
        .unwrap();
    assert!(empty.documents.is_empty() && empty.continuation.is_none());
}

pub async fn a_forged_continuation_token_is_refused(store: &dyn DocumentStore) {
    let query = Query {
        filters: vec![],
        order_by: "createdAt",
        descending: false,
    };
    let result = store
        .query(
            Collection::SyncTasks,
            Uuid::new_v4(),
            &query,
            10,
            Some("not-a-token"),
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::InvalidQuery(_))),
        "{result:?}"
    );
}

/// Eight writers increment one counter five times each through read + If-Match
/// replace, retrying lost races: every increment must survive.
pub async fn racing_read_modify_writes_lose_no_update(store: &dyn DocumentStore) {
    let tenant = Uuid::new_v4();
    store
        .create(
            Collection::SyncTasks,
            tenant,
            "counter",
            doc("counter", tenant, 0),
        )
        .await
        .unwrap();
    let writer = || async {
        let mut lost_races = 0;
        for _ in 0..5 {
            loop {
                let current = store
                    .read(Collection::SyncTasks, tenant, "counter")
                    .await
                    .unwrap()
                    .unwrap();
                let next = doc(
                    "counter",
                    tenant,
                    current.body["value"].as_i64().unwrap() + 1,
                );
                match store
                    .replace(
                        Collection::SyncTasks,
                        tenant,
                        "counter",
                        next,
                        &current.etag,
                    )
                    .await
                {
                    Ok(_) => break,
                    Err(StoreError::PreconditionFailed) => lost_races += 1,
                    Err(other) => panic!("replace failed: {other}"),
                }
            }
        }
        lost_races
    };
    let lost: usize = futures::future::join_all((0..8).map(|_| writer()))
        .await
        .into_iter()
        .sum();
    let read = store
        .read(Collection::SyncTasks, tenant, "counter")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read.body["value"], 40,
        "updates were lost ({lost} races were retried)"
    );
}

pub async fn batch_reads_and_writes_stay_in_their_partition(store: &dyn DocumentStore) {
    let (tenant, stranger) = (Uuid::new_v4(), Uuid::new_v4());
    let docs: Vec<(String, serde_json::Value)> = (0..30)
        .map(|i| (format!("s{i}"), doc(&format!("s{i}"), tenant, i)))
        .collect();
    store
        .upsert_many(Collection::SyncState, tenant, docs)
        .await
        .expect("upsert_many");
    store
        .upsert_many(
            Collection::SyncState,
            stranger,
            vec![("s1".into(), doc("s1", stranger, 99))],
        )
        .await
        .unwrap();
    // Overwrite some, add one.
    store
        .upsert_many(
            Collection::SyncState,
            tenant,
            vec![
                ("s1".into(), doc("s1", tenant, 100)),
                ("s30".into(), doc("s30", tenant, 30)),
            ],
        )
        .await
        .unwrap();
    let wanted: Vec<String> = ["s1", "s2", "s30", "missing"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut found = store
        .read_many(Collection::SyncState, tenant, &wanted)
        .await
        .expect("read_many");
    found.sort_by(|a, b| a.id.cmp(&b.id));
    let values: Vec<(String, i64)> = found
        .iter()
        .map(|d| (d.id.clone(), d.body["value"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        values,
        [("s1".into(), 100), ("s2".into(), 2), ("s30".into(), 30)]
    );
    assert!(found.iter().all(|d| !d.etag.0.is_empty()));
    assert!(
        store
            .read_many(Collection::SyncState, tenant, &[])
            .await
            .unwrap()
            .is_empty()
    );
    let theirs = store
        .read_many(Collection::SyncState, stranger, &wanted)
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].body["value"], 99);
}

pub async fn projected_reads_hold_only_the_fields_asked_for(store: &dyn DocumentStore) {
    let (tenant, stranger) = (Uuid::new_v4(), Uuid::new_v4());
    let state = |id: &str, t: Uuid, hash: Option<&str>| {
        let mut body = json!({
            "id": id, "tenantId": t.to_string(), "externalId": format!("x-{id}"),
            "deleted": false, "snapshot": {"big": "x".repeat(512), "n": [1, 2]},
            "meta": {"note": "a \"quoted\" line\n", "n": [1, 2.5]},
        });
        if let Some(hash) = hash {
            body["rawHash"] = json!(hash);
        }
        (id.to_owned(), body)
    };
    store
        .upsert_many(
            Collection::SyncState,
            tenant,
            vec![state("p1", tenant, Some("h1")), state("p2", tenant, None)],
        )
        .await
        .unwrap();
    store
        .upsert_many(
            Collection::SyncState,
            stranger,
            vec![state("p3", stranger, Some("theirs"))],
        )
        .await
        .unwrap();
    let wanted: Vec<String> = ["p1", "p2", "p3", "missing"].map(String::from).to_vec();
    let fields = ["externalId", "rawHash", "deleted", "meta"];
    let mut found = store
        .read_many_fields(Collection::SyncState, tenant, &wanted, &fields)
        .await
        .expect("read_many_fields");
    found.sort_by(|a, b| a.id.cmp(&b.id));
    let meta = json!({"note": "a \"quoted\" line\n", "n": [1, 2.5]});
    let bodies: Vec<serde_json::Value> = found
        .iter()
        .map(|d| serde_json::from_str(&d.body).unwrap())
        .collect();
    assert_eq!(
        bodies,
        [
            json!({"externalId": "x-p1", "rawHash": "h1", "deleted": false, "meta": meta}),
            json!({"externalId": "x-p2", "deleted": false, "meta": meta}),
        ],
        "only the fields asked for (a missing one left out, nested values and escapes \
         intact), only this tenant's documents"
    );
    assert_eq!(
        found.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["p1", "p2"]
    );
    assert!(
        store
            .read_many_fields(Collection::SyncState, tenant, &wanted, &["snapshot; DROP"])
            .await
            .is_err(),
        "a field name that is not a plain name is refused"
    );
}

/// Documents written with their heads answer reads of the head fields as
/// written; a read of other fields, and every read after the document was
/// written again without a head (any write), answer from the document itself.
pub async fn a_head_answers_only_for_its_own_fields_and_version(store: &dyn DocumentStore) {
    let (tenant, stranger) = (Uuid::new_v4(), Uuid::new_v4());
    let head_fields = ["externalId", "rawHash", "deleted"];
    let state = |id: &str, t: Uuid, hash: &str| {
        let body = json!({
            "id": id, "tenantId": t.to_string(), "externalId": format!("x-{id}"),
            "rawHash": hash, "deleted": false, "snapshot": {"n": 1},
        });
        HeadedText {
            id: id.to_owned(),
            body: body.to_string(),
            head: json!({"externalId": format!("x-{id}"), "rawHash": hash, "deleted": false})
                .to_string(),
        }
    };
    let write = |t: Uuid, docs: Vec<HeadedText>| async move {
        store
            .upsert_many_text_with_heads(Collection::SyncState, t, docs, &head_fields)
            .await
            .expect("upsert_many_text_with_heads")
    };
    write(
        tenant,
        ["h1", "h2", "h3"]
            .map(|id| state(id, tenant, "old"))
            .to_vec(),
    )
    .await;
    write(stranger, vec![state("h1", stranger, "theirs")]).await;
    let wanted: Vec<String> = ["h1", "h2", "h3"].map(String::from).to_vec();
    let read = |fields: &'static [&'static str]| {
        let wanted = wanted.clone();
        async move {
            let mut found = store
                .read_many_fields(Collection::SyncState, tenant, &wanted, fields)
                .await
                .expect("read_many_fields");
            found.sort_by(|a, b| a.id.cmp(&b.id));
            found
                .iter()
                .map(|d| serde_json::from_str(&d.body).unwrap())
                .collect::<Vec<serde_json::Value>>()
        }
    };
    let head = |id: &str, hash: &str, deleted: bool| json!({"externalId": format!("x-{id}"), "rawHash": hash, "deleted": deleted});
    assert_eq!(
        read(&["externalId", "rawHash", "deleted"]).await,
        [
            head("h1", "old", false),
            head("h2", "old", false),
            head("h3", "old", false)
        ],
        "the heads as written, only this tenant's"
    );
    assert_eq!(
        read(&["rawHash", "snapshot"]).await,
        vec![json!({"rawHash": "old", "snapshot": {"n": 1}}); 3],
        "other fields come from the document"
    );

    // Written again, each another way, none with a head.
    let mut h1: serde_json::Value = serde_json::from_str(&state("h1", tenant, "new").body).unwrap();
    store
        .upsert_many_text(
            Collection::SyncState,
            tenant,
            vec![("h1".into(), h1.to_string())],
        )
        .await
        .unwrap();
    h1["id"] = json!("h2");
    h1["externalId"] = json!("x-h2");
    h1["deleted"] = json!(true);
    store
        .upsert(Collection::SyncState, tenant, "h2", h1.clone())
        .await
        .unwrap();
    let etag = store
        .read(Collection::SyncState, tenant, "h3")
        .await
        .unwrap()
        .unwrap()
        .etag;
    h1["id"] = json!("h3");
    h1["externalId"] = json!("x-h3");
    h1.as_object_mut().unwrap().remove("rawHash");
    store
        .replace(Collection::SyncState, tenant, "h3", h1, &etag)
        .await
        .unwrap();
    assert_eq!(
        read(&["externalId", "rawHash", "deleted"]).await,
        [
            head("h1", "new", false),
            head("h2", "new", true),
            json!({"externalId": "x-h3", "deleted": true}),
        ],
        "a head never outlives the version it was written with"
    );
}
