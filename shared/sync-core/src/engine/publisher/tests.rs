//! How a run's changed records become raw events: one each, or batches past
//! the threshold, every record exactly once.

use super::*;
use crate::domain::{Direction, SyncTask, TenantId, events::types, record::ChangeKind};
use chrono::Utc;

fn record(entity: &str, i: usize) -> ChangedRecord {
    ChangedRecord {
        record: ExternalRecord {
            entity_type: entity.into(),
            external_id: format!("{entity}-{i}"),
            modified_at: Utc::now(),
            deleted: false,
            raw: serde_json::value::to_raw_value(&serde_json::json!({"Id": i})).unwrap(),
        },
        kind: ChangeKind::Created,
        changes: None,
    }
}

struct Fixture {
    task: SyncTask,
    execution: SyncExecution,
    factory: EventFactory,
}

impl Fixture {
    fn new() -> Self {
        let task = SyncTask::new_pending(
            TenantId::new_v4(),
            "int-9".into(),
            Direction::Inbound,
            None,
            None,
            None,
        );
        let execution =
            SyncExecution::start(task.task_id, task.tenant_id, task.integration_id.clone());
        Fixture {
            task,
            execution,
            factory: EventFactory::new("test"),
        }
    }

    fn publisher(&self, threshold: usize, batch: usize) -> RecordPublisher<'_> {
        RecordPublisher::new(PublishContext {
            task: &self.task,
            execution: &self.execution,
            provider: "sandbox",
            events: &self.factory,
            metadata: EventMetadata::default(),
            batches: true,
            batch_threshold: threshold,
            batch_size: batch,
        })
    }

    fn per_record_publisher(&self) -> RecordPublisher<'_> {
        RecordPublisher::new(PublishContext {
            batches: false,
            ..self.publisher(10, 4).ctx
        })
    }
}

fn run(
    publisher: &mut RecordPublisher<'_>,
    pages: Vec<Vec<ChangedRecord>>,
) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    for page in pages {
        events.extend(publisher.add_page(page).events);
    }
    events
        .iter()
        .map(|e| serde_json::from_slice(&e.body).unwrap())
        .collect()
}

fn finish(mut publisher: RecordPublisher<'_>) -> Vec<serde_json::Value> {
    publisher
        .finish()
        .events
        .iter()
        .map(|e| serde_json::from_slice(&e.body).unwrap())
        .collect()
}

fn of_type<'v>(events: &'v [serde_json::Value], t: &str) -> Vec<&'v serde_json::Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

#[test]
fn a_sync_at_the_threshold_publishes_one_raw_event_per_record() {
    let f = Fixture::new();
    let mut p = f.publisher(10, 4);
    let mut events = run(
        &mut p,
        vec![
            (0..6).map(|i| record("opportunity", i)).collect(),
            (0..4).map(|i| record("contact", i)).collect(),
        ],
    );
    assert!(events.is_empty(), "held back until the total is known");
    events.extend(finish(p));
    let raw = of_type(&events, types::DATA_RAW);
    assert_eq!(raw.len(), 10);
    assert_eq!(events.len(), 10, "nothing but the records");
    assert!(of_type(&events, types::DATA_RAW_BATCH).is_empty());
    let first = &raw[0]["data"];
    assert_eq!(first["externalId"], "opportunity-0");
    assert_eq!(
        first["idempotencyKey"],
        format!("int-9-opportunity-0-{}", f.task.task_id)
    );
    assert_eq!(first["syncTaskId"], f.task.task_id.to_string());
    assert_eq!(
        first["correlationId"],
        f.execution.correlation_id.to_string()
    );
    assert_eq!(first["rawData"]["Id"], 0);
}

#[test]
fn one_record_over_the_threshold_switches_everything_to_batches() {
    let f = Fixture::new();
    let mut p = f.publisher(10, 4);
    let mut events = run(
        &mut p,
        vec![(0..11).map(|i| record("account", i)).collect()],
    );
    events.extend(finish(p));
    assert!(of_type(&events, types::DATA_RAW).is_empty());
    let sizes: Vec<u64> = of_type(&events, types::DATA_RAW_BATCH)
        .iter()
        .map(|e| e["data"]["batchSize"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [4, 4, 3]);
    let batch = &of_type(&events, types::DATA_RAW_BATCH)[0]["data"];
    assert_eq!(batch["records"].as_array().unwrap().len(), 4);
    assert_eq!(batch["records"][1]["externalId"], "account-1");
    assert_eq!(
        batch["records"][1]["idempotencyKey"],
        format!("int-9-account-1-{}", f.task.task_id)
    );
}

#[test]
fn batches_never_mix_entity_types() {
    let f = Fixture::new();
    let mut p = f.publisher(2, 4);
    let mut events = run(
        &mut p,
        vec![
            (0..5).map(|i| record("opportunity", i)).collect(),
            (0..3).map(|i| record("contact", i)).collect(),
        ],
    );
    events.extend(finish(p));
    let batches = of_type(&events, types::DATA_RAW_BATCH);
    let shape: Vec<(String, u64)> = batches
        .iter()
        .map(|b| {
            (
                b["data"]["entityType"].as_str().unwrap().to_owned(),
                b["data"]["batchSize"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("opportunity".into(), 4),
            ("opportunity".into(), 1),
            ("contact".into(), 3)
        ]
    );
    assert_eq!(
        events.len(),
        3,
        "no opportunity events: integration-processors sends them"
    );
}

#[test]
fn without_batch_events_every_record_goes_out_at_once_on_its_own() {
    let f = Fixture::new();
    let mut p = f.per_record_publisher();
    let first = p.add_page((0..30).map(|i| record("account", i)).collect());
    assert_eq!(
        first.events.len(),
        30,
        "nothing held back past the threshold"
    );
    assert_eq!(first.records.len(), 30);
    assert!(p.is_idle());
    let events = finish(p);
    assert!(events.is_empty());
    let body: serde_json::Value = serde_json::from_slice(&first.events[29].body).unwrap();
    assert_eq!(body["type"], "integration.data.raw");
    assert!(body["data"]["metadata"].get("batchSize").is_none());
}

#[test]
fn every_record_is_carried_exactly_once() {
    let f = Fixture::new();
    let mut p = f.publisher(100, 50);
    let mut count = 0;
    assert!(p.is_idle());
    for page in 0..7 {
        count += p
            .add_page(
                (0..97)
                    .map(|i| record("contact", page * 1000 + i))
                    .collect(),
            )
            .records
            .len();
    }
    assert!(!p.is_idle(), "a partial batch is held");
    count += p.finish().records.len();
    assert!(p.is_idle());
    assert_eq!(count, 7 * 97);
}
