//! The cost of a sync on the production store (issue 18): the requests the
//! Cosmos DB adapter sends (counted by `store_cosmos::requests_sent`) for a
//! first sync, a re-sync of unchanged records and a sync where 1 % changed,
//! against the Cosmos DB emulator, turned into request units with
//! Microsoft's published per-operation costs. `scripts/bench` runs it and
//! writes the table into BENCHMARKS.md. No assertion: the table is the check.
//!
//! The records come through integration-manager's fetch (the proxy provider:
//! no change window, so every sync reads every record, as a re-sync does).

use std::time::Duration;

use integration_tests::{cosmos, fakes::platform::FakePlatform, spawn::test_settings};
use secrecy::SecretString;
use serde_json::{Value, json};
use store_cosmos::{LedgerSnapshot, requests_sent};
use sync_core::domain::{Direction, Integration, TaskStatus};
use uuid::Uuid;
use wiring::App;

/// Records per sync: the emulator keeps everything in one process's memory
/// and scans a partition per query, so the sample is small; every figure
/// below is per record, and the counts per page do not depend on the total.
const RECORDS: u64 = 3_000;
/// Records changed before the third sync, one in a hundred.
const CHANGED_EVERY: u64 = 100;

/// Microsoft's published request charges by item size ("Understand request
/// unit consumption", session consistency, default indexing):
/// (KB, point read, write).
const CHARGES: &[(f64, f64, f64)] = &[
    (1.0, 1.00, 4.95),
    (2.0, 1.04, 6.29),
    (4.0, 1.14, 6.67),
    (8.0, 1.33, 7.04),
    (16.0, 1.67, 9.52),
    (32.0, 2.19, 11.23),
    (64.0, 4.76, 22.67),
];

/// The published charge for an item of `bytes`, interpolated between sizes
/// (an item under 1 KB is charged as 1 KB).
fn charge(bytes: f64, column: fn(&(f64, f64, f64)) -> f64) -> f64 {
    let kb = (bytes / 1024.0).max(1.0);
    for pair in CHARGES.windows(2) {
        let (low, high) = (&pair[0], &pair[1]);
        if kb <= high.0 {
            let share = (kb - low.0) / (high.0 - low.0);
            return column(low) + share * (column(high) - column(low));
        }
    }
    column(CHARGES.last().expect("a table")) * kb / 64.0
}

/// Request units of what a ledger shows. A query's charge is not published
/// per item; it is counted here as a point read of every state document it
/// returns (`state_bytes` each, the size the first sync wrote), plus one
/// point read per page: an upper bound, as a query's seek over the index
/// loads each document once, like a point read does.
fn request_units(spent: &LedgerSnapshot, state_bytes: f64) -> f64 {
    let average = |bytes: u64, count: u64| bytes as f64 / count.max(1) as f64;
    let reads = spent.point_reads as f64
        * charge(average(spent.point_read_bytes, spent.point_reads), |c| c.1);
    let writes = spent.documents_written as f64
        * charge(average(spent.written_bytes, spent.documents_written), |c| {
            c.2
        });
    let queries =
        (spent.query_items as f64 + spent.query_pages as f64) * charge(state_bytes, |c| c.1);
    reads + writes + queries
}

fn deals(n: u64, changed_every: Option<u64>) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let changed = changed_every.is_some_and(|every| i % every == 0);
            json!({
                "id": format!("deal-{i:07}"),
                "title": format!("Deal {i}"),
                "stage": if changed { "won" } else { "open" },
                "amount": (i % 997) * 1250,
                "owner": format!("owner-{}@example.com", i % 37),
                "notes": "renewal expansion pilot enterprise pricing security review ".repeat(14),
                "updatedAt": "2026-11-30T12:00:00Z",
            })
        })
        .collect()
}

async fn sync(app: &App, integration: &Integration) -> LedgerSnapshot {
    let before = requests_sent();
    let engine = app.core.engine.clone();
    let task = engine
        .trigger(
            integration.tenant_id,
            sync_core::engine::TriggerRequest {
                integration_id: integration.id.clone(),
                direction: Direction::Inbound,
                entity_type: None,
                filters: None,
                triggered_by: None,
            },
        )
        .await
        .expect("a trigger");
    engine.runner().idle().await;
    let task = engine
        .get_task(integration.tenant_id, task.task_id)
        .await
        .expect("the task");
    assert_eq!(task.status, TaskStatus::Completed, "{task:?}");
    requests_sent().since(&before)
}

#[tokio::main]
async fn main() {
    let integration: Integration = serde_json::from_value(json!({
        "id": format!("deal-crm-{}", Uuid::new_v4().simple()),
        "tenantId": Uuid::new_v4(),
        "provider": "pipedrive",
        "status": "active",
        "syncConfig": {"entityMappings": [{"externalEntity": "deals", "enabled": true}]}
    }))
    .expect("an integration");
    let platform = FakePlatform::start(vec![integration.clone()]).await;
    platform.set_fetchable(deals(RECORDS, None));
    let mut settings = test_settings();
    settings.cosmos_db.endpoint = Some(cosmos::emulator_endpoint());
    settings.cosmos_db.key = Some(SecretString::from(cosmos::EMULATOR_KEY.to_owned()));
    settings.cosmos_db.database_id = format!("cost-{}", Uuid::new_v4().simple());
    settings.cosmos_db.allow_http2 = false;
    settings.services.integration_manager.url = Some(platform.url.clone());
    // integration-manager's pages as configured by default.
    let page = settings.sync_limits.integration_manager_page_size;
    settings.sync_limits.max_records_per_sync = 100_000_000;
    settings.sync_limits.min_interval = Duration::ZERO;
    settings.mapping.batch_events = true;
    settings.log.filter = "warn".into();
    let app = App::build(settings).await.expect("the app on the emulator");

    let first = sync(&app, &integration).await;
    let state_bytes = first.written_bytes as f64 / first.documents_written.max(1) as f64;
    let again = sync(&app, &integration).await;
    platform.set_fetchable(deals(RECORDS, Some(CHANGED_EVERY)));
    let changed = sync(&app, &integration).await;
    let changed_records = RECORDS.div_ceil(CHANGED_EVERY);

    let mut rows = Vec::new();
    for (what, spent, written) in [
        ("First sync (every record new)", first, RECORDS),
        ("Re-sync (every record unchanged)", again, 0),
        ("Sync after 1 % changed", changed, changed_records),
    ] {
        let per_record = |n: u64| n as f64 / RECORDS as f64;
        let ru = request_units(&spent, state_bytes);
        rows.push(format!(
            "| {what} | {:.3} | {:.4} | {:.3} | {} | {:.3} | {:.2} | {:.0} RU |",
            per_record(spent.requests()),
            per_record(spent.point_reads),
            per_record(spent.documents_written),
            if written == 0 {
                "—".to_owned()
            } else {
                format!("{:.3}", spent.documents_written as f64 / written as f64)
            },
            per_record(spent.query_pages),
            ru / RECORDS as f64,
            ru / RECORDS as f64 * 1_000_000.0,
        ));
    }
    let table = format!(
        "{RECORDS} records of ~1 KiB through integration-manager's fetch, pages of {page}, \
         state documents of {state_bytes:.0} bytes on average.\n\n\
         | sync | requests per record | point reads per record | documents written per record | \
         writes per changed record | queries per record | RU per record | cost of syncing 1M records |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n{}\n",
        rows.join("\n")
    );
    println!("{table}");
    if std::env::args().any(|a| a == "--write") {
        let path = format!("{}/../../BENCHMARKS.md", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("BENCHMARKS.md");
        let (start, end) = ("<!-- cost -->", "<!-- /cost -->");
        match (text.find(start), text.find(end)) {
            (Some(a), Some(b)) => {
                let updated = format!("{}{start}\n\n{table}\n{}", &text[..a], &text[b..]);
                std::fs::write(&path, updated).expect("BENCHMARKS.md written");
            }
            _ => eprintln!("BENCHMARKS.md has no {start} … {end} section; not written"),
        }
    }
}
