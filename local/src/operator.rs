//! `integration-sync sync` and `integration-sync tasks`: starting, following
//! and listing syncs through the service's own HTTP API, as any client would.
//! Following shows a progress bar on a terminal and one line per change
//! otherwise (logs, CI); it exits non-zero when the task does not complete.

use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use sync_core::{auth::TokenIssuer, config::Settings};
use uuid::Uuid;

/// The development tenant (`integration-sync token`'s default).
pub const DEV_TENANT: &str = "00000000-0000-4000-8000-000000000001";
/// The development user.
pub const DEV_USER: &str = "00000000-0000-4000-8000-0000000000d0";
/// How often a followed task is read.
const POLL: Duration = Duration::from_millis(250);

/// Where the API is and who calls it.
#[derive(Args)]
pub struct ApiTarget {
    /// The service's base URL (default: this configuration's port on loopback).
    #[arg(long, env = "INTEGRATION_SYNC_URL")]
    url: Option<String>,
    /// The tenant to act for.
    #[arg(long, env = "INTEGRATION_SYNC_TENANT", default_value = DEV_TENANT)]
    tenant: Uuid,
    /// A bearer token (default: one signed with the configured JWT secret,
    /// which only a development setup's secret allows).
    #[arg(long, env = "INTEGRATION_SYNC_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Args)]
#[command(group(ArgGroup::new("what").required(true).args(["integration", "task"])))]
pub struct SyncArgs {
    /// Start a sync of this integration.
    #[arg(long)]
    integration: Option<String>,
    /// Follow this task instead of starting one.
    #[arg(long)]
    task: Option<Uuid>,
    /// inbound, outbound or bidirectional.
    #[arg(long, default_value = "inbound")]
    direction: String,
    /// Only this entity type.
    #[arg(long)]
    entity: Option<String>,
    /// Show progress until the task ends; exit non-zero unless it completes.
    #[arg(long)]
    follow: bool,
    #[command(flatten)]
    api: ApiTarget,
}

#[derive(Args)]
pub struct TasksArgs {
    /// Only this integration's tasks.
    #[arg(long)]
    integration: Option<String>,
    /// Only tasks in this status.
    #[arg(long)]
    status: Option<String>,
    #[arg(long, default_value_t = 20)]
    limit: u32,
    #[command(flatten)]
    api: ApiTarget,
}

struct Api {
    http: reqwest::Client,
    base: String,
    tenant: Uuid,
    token: String,
}

impl Api {
    fn new(settings: &Settings, target: ApiTarget) -> anyhow::Result<Self> {
        let base = target
            .url
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", settings.server.port));
        let token = target.token.unwrap_or_else(|| {
            TokenIssuer::new(&settings.jwt).user_token(
                DEV_USER,
                Some(target.tenant),
                Duration::from_secs(3600),
            )
        });
        let http = outgoing_http::client_builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
            tenant: target.tenant,
            token,
        })
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .header("X-Tenant-ID", self.tenant.to_string())
            .send()
            .await
            .with_context(|| format!("cannot reach integration-sync at {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            // The API's errors are `{"error": {"code", "message"}}`.
            let message = body["error"]["message"].as_str().unwrap_or("no message");
            bail!("the service answered {status}: {message}");
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.http.get(format!("{}{path}", self.base)))
            .await
    }
}

pub async fn sync(settings: &Settings, args: SyncArgs) -> anyhow::Result<()> {
    let api = Api::new(settings, args.api)?;
    let task_id = match (args.task, args.integration) {
        (Some(task), _) => task.to_string(),
        (None, Some(integration)) => {
            let mut body = json!({"integrationId": integration, "direction": args.direction});
            if let Some(entity) = args.entity {
                body["entityType"] = json!(entity);
            }
            let started = api
                .call(
                    api.http
                        .post(format!("{}/api/v1/sync/trigger", api.base))
                        .json(&body),
                )
                .await?;
            let id = started["taskId"]
                .as_str()
                .context("the trigger answered no taskId")?
                .to_owned();
            println!(
                "task {id} started ({} sync of {integration})",
                args.direction
            );
            if !args.follow {
                return Ok(());
            }
            id
        }
        (None, None) => unreachable!("clap requires --integration or --task"),
    };
    follow(&api, &task_id).await
}

/// Reads the task until it ends, showing how far it got.
async fn follow(api: &Api, task_id: &str) -> anyhow::Result<()> {
    let path = format!("/api/v1/sync/tasks/{task_id}");
    let mut view = ProgressView::new(std::io::stdout().is_terminal());
    loop {
        let task = api.get(&path).await?;
        let status = task["status"].as_str().unwrap_or("unknown").to_owned();
        match status.as_str() {
            "pending" | "running" | "processing" => {
                view.show(&task, &status);
                tokio::time::sleep(POLL).await
            }
            "completed" => {
                view.finish(&summary(&task, "completed"));
                return Ok(());
            }
            other => {
                view.finish(&summary(&task, other));
                let reason = task["error"].as_str().unwrap_or("no reason given");
                bail!("task {task_id} {other}: {reason}");
            }
        }
    }
}

/// A progress bar on a terminal; otherwise a line whenever something changed.
struct ProgressView {
    bar: Option<ProgressBar>,
    started: Instant,
    first_count: Option<u64>,
    /// The last line printed, without its rate.
    last_state: String,
}

impl ProgressView {
    fn new(terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
                    .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        ProgressView {
            bar,
            started: Instant::now(),
            first_count: None,
            last_state: String::new(),
        }
    }

    fn show(&mut self, task: &Value, status: &str) {
        let processed = task["recordsProcessed"].as_u64().unwrap_or(0);
        let first = *self.first_count.get_or_insert(processed);
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = if seconds > 0.5 {
            (processed - first.min(processed)) as f64 / seconds
        } else {
            0.0
        };
        let expected = task["recordsExpected"].as_u64();
        let pages = task["pagesRead"].as_u64().unwrap_or(0);
        // What changed is told by everything but the rate, which moves every poll.
        let mut state = format!("{pages} pages");
        if let Some(expected) = expected {
            state.push_str(&format!(
                ", {} remaining",
                expected.saturating_sub(processed)
            ));
        }
        if let Some(waiting) = task["message"].as_str() {
            state.push_str(&format!(" — {waiting}"));
        }
        let head = format!("{status}: {processed} records");
        let line = format!("{head}, {rate:.0} records/s, {state}");
        let state = format!("{head}, {state}");
        match &self.bar {
            Some(bar) => {
                if let Some(expected) = expected {
                    bar.set_length(expected.max(processed));
                    bar.set_position(processed);
                }
                bar.set_message(line);
            }
            None if state != self.last_state => {
                // Not a terminal: a plain line a log or a test can read.
                println!("{line}");
                self.last_state = state;
            }
            None => {}
        }
    }

    fn finish(&self, summary: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        println!("{summary}");
    }
}

fn summary(task: &Value, status: &str) -> String {
    let n = |key: &str| task[key].as_u64().unwrap_or(0);
    format!(
        "{status}: {} records (created {}, updated {}, unchanged {}, deleted {}, failed {}), {} pages, {} attempt(s)",
        n("recordsProcessed"),
        n("recordsCreated"),
        n("recordsUpdated"),
        n("recordsUnchanged"),
        n("recordsDeleted"),
        n("recordsFailed"),
        n("pagesRead"),
        n("attempts").max(1),
    )
}

pub async fn tasks(settings: &Settings, args: TasksArgs) -> anyhow::Result<()> {
    let api = Api::new(settings, args.api)?;
    let mut query = vec![("limit", args.limit.to_string())];
    if let Some(integration) = args.integration {
        query.push(("integrationId", integration));
    }
    if let Some(status) = args.status {
        query.push(("status", status));
    }
    let page = api
        .call(
            api.http
                .get(format!("{}/api/v1/sync/tasks", api.base))
                .query(&query),
        )
        .await?;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<36}  {:<36}  {:<13}  {:<10}  {:>9}  CREATED",
        "TASK", "INTEGRATION", "DIRECTION", "STATUS", "RECORDS"
    );
    for task in &items {
        let text = |key: &str| task[key].as_str().unwrap_or("").to_owned();
        println!(
            "{:<36}  {:<36}  {:<13}  {:<10}  {:>9}  {}",
            text("taskId"),
            text("integrationId"),
            text("direction"),
            text("status"),
            task["recordsProcessed"].as_u64().unwrap_or(0),
            text("createdAt"),
        );
    }
    if items.is_empty() {
        println!("(no tasks)");
    }
    Ok(())
}
