//! A Lambda Runtime API emulated on port 0, and a function binary run against it.
//!
//! Each invocation carries a deadline (`lambda-runtime-deadline-ms`) of its
//! timeout from the moment the function takes it. A sandbox
//! ([`super::sandbox`]) asks to be frozen (SIGSTOP) the moment an answer is
//! posted, as Lambda freezes an execution environment once it has answered.

use std::{
    collections::{HashMap, VecDeque},
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path as UrlPath, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::IntoResponse,
    routing::{get, post},
};
use serde_json::Value;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub enum Outcome {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct RuntimeState {
    queue: VecDeque<(String, Value)>,
    outcomes: HashMap<String, Outcome>,
    /// When each invocation taken by the function times out.
    deadlines: HashMap<String, tokio::time::Instant>,
    /// The process to freeze once it answers.
    freeze: Option<u32>,
}

#[derive(Clone)]
pub struct RuntimeApi {
    pub address: String,
    state: Arc<Mutex<RuntimeState>>,
    arrived: Arc<Notify>,
    settled: Arc<Notify>,
    timeout: Duration,
}

type Shared = State<RuntimeApi>;

async fn next(State(api): Shared) -> impl IntoResponse {
    loop {
        let notified = api.arrived.notified();
        let taken = {
            let mut state = api.state.lock().unwrap();
            let taken = state.queue.pop_front();
            if let Some((id, _)) = &taken {
                let deadline = tokio::time::Instant::now() + api.timeout;
                state.deadlines.insert(id.clone(), deadline);
            }
            taken
        };
        if let Some((id, event)) = taken {
            let mut headers = HeaderMap::new();
            let deadline = (chrono::Utc::now() + chrono::Duration::from_std(api.timeout).unwrap())
                .timestamp_millis();
            headers.insert(
                "lambda-runtime-aws-request-id",
                HeaderValue::from_str(&id).unwrap(),
            );
            headers.insert(
                "lambda-runtime-deadline-ms",
                HeaderValue::from_str(&deadline.to_string()).unwrap(),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:eu-west-1:123456789012:function:test"),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                HeaderValue::from_static("Root=1-00000000-000000000000000000000000"),
            );
            return (StatusCode::OK, headers, Json(event));
        }
        notified.await;
    }
}

/// The runtime client posts results without a JSON content type: read bytes.
fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn respond(
    State(api): Shared,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    api.answered(id, Outcome::Response(json_of(&body)));
    StatusCode::ACCEPTED
}

async fn fail(
    State(api): Shared,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    api.answered(id, Outcome::Error(json_of(&body)));
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    /// Invocations time out after 120 s.
    pub async fn start() -> Self {
        Self::with_timeout(Duration::from_secs(120)).await
    }

    /// Invocations time out `timeout` after the function takes them.
    pub async fn with_timeout(timeout: Duration) -> Self {
        let api = RuntimeApi {
            address: String::new(),
            state: Default::default(),
            arrived: Arc::new(Notify::new()),
            settled: Arc::new(Notify::new()),
            timeout,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .with_state(api.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        RuntimeApi { address, ..api }
    }

    /// Records an answer; the process that posted it is frozen first when
    /// asked, before it hears that its answer was taken.
    fn answered(&self, id: String, outcome: Outcome) {
        let mut state = self.state.lock().unwrap();
        if let Some(pid) = state.freeze {
            super::sandbox::signal(pid, super::sandbox::Signal::Stop);
        }
        state.deadlines.remove(&id);
        state.outcomes.insert(id, outcome);
        self.settled.notify_waiters();
    }

    /// Freezes `pid` whenever it answers.
    pub fn freeze_on_answer(&self, pid: u32) {
        self.state.lock().unwrap().freeze = Some(pid);
    }

    /// Invokes the function with `event`; its answer, or `None` when the
    /// invocation's deadline passed first (the caller kills the sandbox).
    /// A function that never takes the invocation fails the test.
    pub async fn invoke_within_deadline(&self, event: Value) -> Option<Outcome> {
        let id = uuid::Uuid::new_v4().to_string();
        self.state
            .lock()
            .unwrap()
            .queue
            .push_back((id.clone(), event));
        self.arrived.notify_waiters();
        let untaken_until = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let settled = self.settled.notified();
            let deadline = {
                let mut state = self.state.lock().unwrap();
                if let Some(outcome) = state.outcomes.remove(&id) {
                    return Some(outcome);
                }
                state.deadlines.get(&id).copied()
            };
            let now = tokio::time::Instant::now();
            match deadline {
                Some(deadline) if now >= deadline => {
                    self.state.lock().unwrap().deadlines.remove(&id);
                    return None;
                }
                Some(_) => {}
                None => assert!(
                    now < untaken_until,
                    "the function never took invocation {id}"
                ),
            }
            let _ = tokio::time::timeout(Duration::from_millis(20), settled).await;
        }
    }

    /// Invokes the function with `event` and waits for its answer.
    pub async fn invoke(&self, event: Value) -> Outcome {
        self.invoke_within_deadline(event)
            .await
            .expect("the function answered within its deadline")
    }
}

/// The function binary configured as Lambda starts it against `api`, plus `env`.
pub(super) fn function_command(
    binary: &str,
    api: &RuntimeApi,
    env: &[(&str, String)],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    command
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env(
            "AWS_LAMBDA_FUNCTION_NAME",
            Path::new(binary).file_name().unwrap(),
        )
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// A function binary running against `api`, configured like a deployment.
pub struct RunningFunction {
    child: tokio::process::Child,
}

impl RunningFunction {
    pub fn start(binary: &str, api: &RuntimeApi, env: &[(&str, String)]) -> Self {
        let mut command = function_command(binary, api, env);
        RunningFunction {
            child: command.spawn().expect("the function binary starts"),
        }
    }
}

impl Drop for RunningFunction {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
