//! The order in which consecutive pages reach the broker: sent one after
//! another while the broker still confirms, and published again in page
//! order when confirms are lost.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use tokio::sync::{Notify, oneshot};

use super::publish_in_order;
use crate::{
    domain::events::OutboundEvent,
    engine::RunError,
    ports::{Confirming, EventBus, PublishError},
};

/// How the broker answers a page's send.
#[derive(Clone, Copy)]
enum Answer {
    Confirm,
    /// The connection drops before the confirms arrive.
    Lost,
    Refuse,
}

/// A bus that logs what it is handed (`send 1`, `publish 1`, ...: the page
/// is the number in the events' ids) and answers each page as scripted.
/// The first page's confirms wait until a second page was sent, so a
/// publisher that waits for them before sending the next page never ends.
struct ScriptedBus {
    answers: Vec<Answer>,
    log: Mutex<Vec<String>>,
    second_sent: Arc<Notify>,
}

impl ScriptedBus {
    fn new(answers: Vec<Answer>) -> Arc<Self> {
        Arc::new(ScriptedBus {
            answers,
            log: Mutex::default(),
            second_sent: Arc::new(Notify::new()),
        })
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn page_of(events: &[OutboundEvent]) -> usize {
    events[0].id.as_u128() as usize
}

#[async_trait]
impl EventBus for ScriptedBus {
    async fn publish(&self, events: &[OutboundEvent]) -> Result<(), PublishError> {
        let page = page_of(events);
        self.log.lock().unwrap().push(format!("publish {page}"));
        Ok(())
    }

    async fn send(&self, events: Arc<[OutboundEvent]>) -> Result<Confirming, PublishError> {
        let page = page_of(&events);
        self.log.lock().unwrap().push(format!("send {page}"));
        if page == 2 {
            self.second_sent.notify_one();
        }
        let answer = self.answers[page - 1];
        let second_sent = self.second_sent.clone();
        Ok(Box::pin(async move {
            if page == 1 {
                second_sent.notified().await;
            }
            match answer {
                Answer::Confirm => Ok(()),
                Answer::Lost => Err(PublishError::Unavailable("connection closed".into())),
                Answer::Refuse => Err(PublishError::Nacked {
                    refused: 1,
                    total: 1,
                }),
            }
        }))
    }

    async fn health(&self) -> Result<(), PublishError> {
        Ok(())
    }
}

fn page(number: usize) -> Arc<[OutboundEvent]> {
    vec![OutboundEvent {
        id: uuid::Uuid::from_u128(number as u128),
        event_type: "test.page",
        tenant_id: uuid::Uuid::nil(),
        correlation_id: None,
        body: bytes::Bytes::new(),
    }]
    .into()
}

/// Publishes pages 1..=n as the walk chains them; each page's outcome.
async fn publish_pages(bus: Arc<ScriptedBus>, n: usize) -> Vec<Result<bool, RunError>> {
    let mut last_sent: Option<oneshot::Receiver<()>> = None;
    let mut last_published: Option<oneshot::Receiver<bool>> = None;
    let mut jobs = Vec::new();
    for number in 1..=n {
        let (sent, on_sent) = oneshot::channel();
        let (published, on_published) = oneshot::channel();
        let after_sent = last_sent.replace(on_sent);
        let after_published = last_published.replace(on_published);
        let bus = bus.clone();
        jobs.push(tokio::spawn(async move {
            let bus: &dyn EventBus = bus.as_ref();
            let again =
                publish_in_order(bus, &page(number), after_sent, sent, after_published).await?;
            let _ = published.send(again);
            Ok(again)
        }));
    }
    let mut outcomes = Vec::new();
    for job in jobs {
        // Only a publisher that waits for confirms before the next send stalls.
        let outcome = tokio::time::timeout(Duration::from_secs(10), job)
            .await
            .expect("a page waited for the confirms of the page before to send its events")
            .unwrap();
        outcomes.push(outcome);
    }
    outcomes
}

#[tokio::test]
async fn a_page_is_sent_while_the_page_before_is_still_being_confirmed() {
    let bus = ScriptedBus::new(vec![Answer::Confirm; 3]);
    let outcomes = publish_pages(bus.clone(), 3).await;
    assert!(outcomes.iter().all(|o| matches!(o, Ok(false))));
    assert_eq!(bus.log(), ["send 1", "send 2", "send 3"]);
}

#[tokio::test]
async fn pages_whose_confirms_were_lost_go_out_again_in_page_order() {
    // Page 2 is confirmed, but page 1 goes out again after it: so does page 2,
    // and page 3, so the last copy of each reaches the broker in page order.
    let bus = ScriptedBus::new(vec![Answer::Lost, Answer::Confirm, Answer::Confirm]);
    let outcomes = publish_pages(bus.clone(), 3).await;
    assert!(outcomes.iter().all(|o| matches!(o, Ok(true))));
    let log = bus.log();
    let republished: Vec<&String> = log.iter().filter(|l| l.starts_with("publish")).collect();
    assert_eq!(republished, ["publish 1", "publish 2", "publish 3"]);
}

#[tokio::test]
async fn a_refused_page_fails_and_the_pages_after_it_fail_with_it() {
    let bus = ScriptedBus::new(vec![Answer::Refuse, Answer::Confirm, Answer::Confirm]);
    let outcomes = publish_pages(bus.clone(), 3).await;
    assert!(matches!(
        outcomes[0],
        Err(RunError::Publish(PublishError::Nacked { .. }))
    ));
    assert!(outcomes[1..].iter().all(|o| o.is_err()), "{outcomes:?}");
    assert!(!bus.log().iter().any(|l| l.starts_with("publish")));
}
