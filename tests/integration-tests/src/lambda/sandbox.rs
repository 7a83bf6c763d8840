//! Functions run the way Lambda runs them, for tests that must not rely on a
//! process living on between invocations.
//!
//! - A **sandbox** is one process of the function binary against a Runtime
//!   API of its own. It is frozen (SIGSTOP) the moment it posts an answer and
//!   thawed (SIGCONT) when it is given its next invocation; if it has not
//!   answered by the invocation's deadline it is killed (SIGKILL) and never
//!   used again.
//! - A [`LambdaFunction`] keeps warm sandboxes and starts a new one when all
//!   are busy, up to its concurrency.
//! - An [`EventSourceMapping`] feeds a function from its queue as the
//!   template binds it (Amazon MQ for RabbitMQ): batches of up to
//!   `batch_size` messages in the event-source shape (nulls included), the
//!   batch acknowledged when the function answers, returned to the queue
//!   (redelivered) when it fails or is killed; several pollers at once.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use lapin::{
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
        QueueDeclareOptions,
    },
    types::FieldTable,
};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::{Outcome, RuntimeApi, message, mq_batch};

#[derive(Debug, Clone, Copy)]
pub enum Signal {
    Stop,
    Continue,
    Kill,
}

/// Sends `signal` to `pid`.
pub fn signal(pid: u32, signal: Signal) {
    let number = match signal {
        Signal::Stop => libc::SIGSTOP,
        Signal::Continue => libc::SIGCONT,
        Signal::Kill => libc::SIGKILL,
    };
    // SAFETY: kill(2) with a pid this harness spawned; no memory is shared.
    unsafe {
        libc::kill(pid as libc::pid_t, number);
    }
}

/// Whether `pid` is stopped (state `T` in /proc).
pub fn is_frozen(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('T'))
        })
        .unwrap_or(false)
}

/// A function binary of the workspace, built beside the test binary
/// (`cargo nextest run --workspace` builds every binary before any test).
pub fn function_binary(name: &str) -> String {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path: PathBuf = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo nextest run --workspace` (scripts/test), which builds every function",
        path.display()
    );
    path.display().to_string()
}

struct Sandbox {
    api: RuntimeApi,
    child: tokio::process::Child,
    pid: u32,
}

/// What happened to one invocation.
#[derive(Debug, Clone)]
pub enum Invocation {
    Answered(Outcome),
    /// The deadline passed: the sandbox was killed.
    Killed,
}

/// Counts of what the function's sandboxes went through.
#[derive(Debug, Default)]
pub struct Lifecycle {
    pub cold_starts: AtomicUsize,
    pub invocations: AtomicUsize,
    pub kills: AtomicUsize,
    pub busy: AtomicUsize,
    pub most_busy: AtomicUsize,
}

/// A function as Lambda runs it (module documentation).
pub struct LambdaFunction {
    binary: String,
    env: Vec<(&'static str, String)>,
    timeout: Duration,
    warm: Mutex<Vec<Sandbox>>,
    concurrency: Semaphore,
    pub lifecycle: Lifecycle,
    /// Every sandbox process started, for tests that look at one.
    pids: Mutex<Vec<u32>>,
}

impl LambdaFunction {
    /// `binary` configured with `env`, invocations timing out after
    /// `timeout`, at most `concurrency` sandboxes at once.
    pub fn new(
        binary: String,
        env: &[(&'static str, String)],
        timeout: Duration,
        concurrency: usize,
    ) -> Arc<Self> {
        Arc::new(LambdaFunction {
            binary,
            env: env.to_vec(),
            timeout,
            warm: Mutex::new(Vec::new()),
            concurrency: Semaphore::new(concurrency),
            lifecycle: Lifecycle::default(),
            pids: Mutex::new(Vec::new()),
        })
    }

    pub fn pids(&self) -> Vec<u32> {
        self.pids.lock().unwrap().clone()
    }

    async fn cold_start(&self) -> Sandbox {
        let api = RuntimeApi::with_timeout(self.timeout).await;
        let mut command = super::runtime_api::function_command(&self.binary, &api, &self.env);
        let child = command.spawn().expect("the function binary starts");
        let pid = child.id().expect("a running child has a pid");
        api.freeze_on_answer(pid);
        self.lifecycle.cold_starts.fetch_add(1, Ordering::SeqCst);
        self.pids.lock().unwrap().push(pid);
        Sandbox { api, child, pid }
    }

    /// One invocation on a warm sandbox (thawed) or a new one.
    pub async fn invoke(&self, event: Value) -> Invocation {
        let _permit = self.concurrency.acquire().await.expect("open semaphore");
        let busy = self.lifecycle.busy.fetch_add(1, Ordering::SeqCst) + 1;
        self.lifecycle.most_busy.fetch_max(busy, Ordering::SeqCst);
        self.lifecycle.invocations.fetch_add(1, Ordering::SeqCst);
        let warm = self.warm.lock().unwrap().pop();
        let mut sandbox = match warm {
            Some(sandbox) => {
                signal(sandbox.pid, Signal::Continue);
                sandbox
            }
            None => self.cold_start().await,
        };
        let answer = sandbox.api.invoke_within_deadline(event).await;
        let invocation = match answer {
            Some(outcome) => {
                self.warm.lock().unwrap().push(sandbox);
                Invocation::Answered(outcome)
            }
            None => {
                signal(sandbox.pid, Signal::Kill);
                let _ = sandbox.child.wait().await;
                self.lifecycle.kills.fetch_add(1, Ordering::SeqCst);
                Invocation::Killed
            }
        };
        self.lifecycle.busy.fetch_sub(1, Ordering::SeqCst);
        invocation
    }
}

impl Drop for LambdaFunction {
    fn drop(&mut self) {
        for sandbox in self.warm.lock().unwrap().iter_mut() {
            signal(sandbox.pid, Signal::Continue);
            let _ = sandbox.child.start_kill();
        }
    }
}

/// A function fed from its queue (module documentation).
pub struct EventSourceMapping {
    pollers: Vec<tokio::task::JoinHandle<()>>,
    pub batches: Arc<Mutex<Vec<BatchResult>>>,
}

/// One batch the mapping delivered, and how it ended.
#[derive(Debug, Clone)]
pub struct BatchResult {
    pub messages: usize,
    pub redelivered: usize,
    pub answered: bool,
}

impl EventSourceMapping {
    /// Declares `queue` on `exchange`, bound to `routing_keys`, and feeds
    /// `function` from it with `pollers` concurrent batches of up to `batch_size`.
    pub async fn start(
        function: Arc<LambdaFunction>,
        exchange: &str,
        queue: &str,
        routing_keys: &[&str],
        batch_size: u16,
        pollers: usize,
    ) -> Self {
        let connection = crate::broker::connect().await;
        let channel = connection.create_channel().await.expect("channel");
        crate::broker::declare_exchange(&channel, exchange).await;
        channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                // Gone a minute after the test stops reading it.
                FieldTable::from(BTreeMap::from([(
                    "x-expires".into(),
                    lapin::types::AMQPValue::LongUInt(60_000),
                )])),
            )
            .await
            .expect("the function's queue");
        crate::broker::bind(&channel, queue, exchange, routing_keys).await;
        let batches = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for n in 0..pollers {
            let (function, queue, batches) = (function.clone(), queue.to_owned(), batches.clone());
            handles.push(tokio::spawn(async move {
                poll(function, &queue, batch_size, n, batches).await
            }));
        }
        EventSourceMapping {
            pollers: handles,
            batches,
        }
    }
}

impl EventSourceMapping {
    /// The batches delivered so far, once there are at least `count`.
    pub async fn batches_after(&self, count: usize, timeout: Duration) -> Vec<BatchResult> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let batches = self.batches.lock().unwrap().clone();
            if batches.len() >= count {
                return batches;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} batches delivered, not {count}",
                batches.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for EventSourceMapping {
    fn drop(&mut self) {
        for poller in &self.pollers {
            poller.abort();
        }
    }
}

async fn poll(
    function: Arc<LambdaFunction>,
    queue: &str,
    batch_size: u16,
    n: usize,
    batches: Arc<Mutex<Vec<BatchResult>>>,
) {
    let connection = crate::broker::connect().await;
    let channel = connection.create_channel().await.expect("channel");
    channel
        .basic_qos(batch_size, BasicQosOptions::default())
        .await
        .expect("prefetch");
    let mut deliveries = channel
        .basic_consume(
            queue.into(),
            format!("esm-{n}").as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    loop {
        let Some(Ok(first)) = deliveries.next().await else {
            return;
        };
        let mut batch = vec![first];
        // The batching window: what else is ready, up to the batch size.
        while batch.len() < batch_size as usize {
            match tokio::time::timeout(Duration::from_millis(50), deliveries.next()).await {
                Ok(Some(Ok(delivery))) => batch.push(delivery),
                _ => break,
            }
        }
        let messages: Vec<Value> = batch
            .iter()
            .map(|d| {
                let kind = d.properties.kind().as_ref().map(|k| k.as_str().to_owned());
                let mut m = message(
                    &d.data,
                    kind.as_deref().unwrap_or(d.routing_key.as_str()),
                    d.redelivered,
                );
                if kind.is_none() {
                    m["basicProperties"]["type"] = Value::Null;
                }
                m
            })
            .collect();
        let mut by_queue = BTreeMap::new();
        by_queue.insert(format!("{queue}::/"), messages);
        let event = mq_batch(json!(by_queue));
        let answered = matches!(
            function.invoke(event).await,
            Invocation::Answered(Outcome::Response(_))
        );
        batches.lock().unwrap().push(BatchResult {
            messages: batch.len(),
            redelivered: batch.iter().filter(|d| d.redelivered).count(),
            answered,
        });
        for delivery in batch {
            if answered {
                delivery
                    .acker
                    .ack(BasicAckOptions::default())
                    .await
                    .expect("ack");
            } else {
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await
                    .expect("nack");
            }
        }
    }
}
