//! The RabbitMQ adapter's two ways of publishing: `publish` waits for the
//! confirms; `send` hands events over and leaves the confirms to a future,
//! so the next batch goes out while the broker confirms this one.

use std::time::Duration;

use bus_rabbitmq::RabbitMqBus;
use integration_tests::broker::{EventObserver, envelope};
use serde_json::json;
use sync_core::{domain::events::OutboundEvent, ports::EventBus};

fn probes(first: u64, n: u64) -> Vec<OutboundEvent> {
    (first..first + n)
        .map(|i| {
            let tenant = uuid::Uuid::new_v4();
            let body = envelope("test.probe", tenant, json!({"n": i}));
            OutboundEvent {
                id: uuid::Uuid::new_v4(),
                event_type: "test.probe",
                tenant_id: tenant,
                correlation_id: None,
                body: serde_json::to_vec(&body).unwrap().into(),
            }
        })
        .collect()
}

#[tokio::test]
async fn batches_sent_before_their_confirms_arrive_in_order_and_are_confirmed() {
    let settings = integration_tests::spawn::test_settings();
    let url = settings.rabbitmq.url.clone().unwrap();
    let mut observer = EventObserver::bind(&settings.rabbitmq.exchange).await;
    let bus = RabbitMqBus::connect(&settings.rabbitmq, &url, Duration::from_secs(20))
        .await
        .unwrap();

    let first = bus.send(probes(0, 50).into()).await.unwrap();
    let second = bus.send(probes(50, 50).into()).await.unwrap();
    // Confirmed apart, in any order of waiting. That a send does not wait
    // for the confirms of the one before is the walk's scripted-bus test
    // (`walk/tests.rs`); here the real broker keeps order and confirms.
    second.await.expect("the second batch is confirmed");
    first.await.expect("the first batch is confirmed");

    let arrived = observer.drain_for(Duration::from_millis(500)).await;
    let order: Vec<u64> = arrived
        .iter()
        .map(|(_, e)| e["data"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(order, (0..100).collect::<Vec<_>>());
}
