//! Side by side with the platform's first implementation (issue 18): the same
//! fake integration-manager serving the same records, the same RabbitMQ, runs
//! alternating. Not part of `scripts/bench` nor of CI: it needs a castiel2
//! checkout, which `scripts/compare-first-implementation <path>` builds and
//! passes here. No assertion: the table is the check.
//!
//! cargo bench -p integration-tests --bench compare -- <containers/integration-sync, built>
//!     [--records N] [--per-record N] [--rounds R] [--write] [--ours-env KEY=VALUE]...

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

use integration_tests::{broker, cosmos, fakes::platform::FakePlatform, spawn::test_settings};
use lapin::{options::*, types::FieldTable};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use store_cosmos::CosmosStore;
use sync_core::domain::Integration;
use uuid::Uuid;

/// Where both implementations publish (their configurations' default).
const EXCHANGE: &str = "coder_events";
const DATA_KEYS: &[&str] = &["integration.data.raw", "integration.data.raw_batch"];
/// Records per batch event, both implementations' default.
const BATCH: u64 = 50;
/// A run that has not ended by then is reported as failed.
const RUN_LIMIT: Duration = Duration::from_secs(600);

struct Options {
    first_implementation: PathBuf,
    records: u64,
    per_record: u64,
    rounds: usize,
    write: bool,
    /// Extra environment for integration-sync (`--ours-env KEY=VALUE`).
    ours_env: Vec<(String, String)>,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut options = Options {
        first_implementation: PathBuf::new(),
        records: 100_000,
        per_record: 20_000,
        rounds: 3,
        write: false,
        ours_env: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} takes a number"))
        };
        match arg.as_str() {
            "--records" => options.records = number("--records"),
            "--per-record" => options.per_record = number("--per-record"),
            "--rounds" => options.rounds = number("--rounds") as usize,
            "--write" => options.write = true,
            "--ours-env" => {
                let pair = args.next().unwrap_or_default();
                let (key, value) = pair.split_once('=').expect("--ours-env takes KEY=VALUE");
                options.ours_env.push((key.to_owned(), value.to_owned()));
            }
            path => options.first_implementation = PathBuf::from(path),
        }
    }
    assert!(
        options.first_implementation.join("dist/server.js").exists(),
        "pass the built first implementation (castiel2 containers/integration-sync with dist/); \
         scripts/compare-first-implementation <castiel2 checkout> builds it"
    );
    options
}

/// ~1 KiB deals, as a CRM without a native adapter would send them.
fn deals(n: u64) -> Vec<Value> {
    let words = [
        "renewal",
        "expansion",
        "pilot",
        "enterprise",
        "pricing",
        "security",
        "review",
        "procurement",
        "legal",
        "onboarding",
        "champion",
        "budget",
    ];
    (0..n)
        .map(|i| {
            let notes: Vec<&str> = (0..110)
                .map(|w| words[(i as usize * 7 + w * 3) % words.len()])
                .collect();
            let stage = ["open", "qualified", "proposal", "won"][i as usize % 4];
            json!({
                "id": format!("deal-{i:07}"),
                "title": format!("Deal {i}"),
                "stage": stage,
                "amount": (i % 997) * 1250,
                "currency": "EUR",
                "owner": format!("owner-{}@example.com", i % 37),
                "account": format!("account-{}", i % 1009),
                "notes": notes.join(" "),
                "updatedAt": "2026-11-30T12:00:00Z",
            })
        })
        .collect()
}

fn integration(tenant: Uuid) -> Integration {
    serde_json::from_value(json!({
        "id": format!("deal-crm-{}", Uuid::new_v4().simple()),
        "tenantId": tenant,
        "provider": "pipedrive",
        "status": "active",
        "syncConfig": {"entityMappings": [{"externalEntity": "deals", "enabled": true}]}
    }))
    .expect("an integration")
}

/// A queue bound to the data events of both implementations.
struct Sink {
    channel: lapin::Channel,
    queue: String,
    _connection: lapin::Connection,
}

impl Sink {
    async fn bind() -> Self {
        let connection = broker::connect().await;
        let channel = connection.create_channel().await.unwrap();
        broker::declare_exchange(&channel, EXCHANGE).await;
        let queue = format!("compare.sink.{}", Uuid::new_v4().simple());
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::durable(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        broker::bind(&channel, &queue, EXCHANGE, DATA_KEYS).await;
        Sink {
            channel,
            queue,
            _connection: connection,
        }
    }

    async fn count(&self) -> u64 {
        let declared = self
            .channel
            .queue_declare(
                self.queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        u64::from(declared.message_count())
    }

    async fn purge(&self) {
        self.channel
            .queue_purge(self.queue.as_str().into(), QueuePurgeOptions::default())
            .await
            .unwrap();
    }

    async fn delete(&self) {
        let _ = self
            .channel
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Implementation {
    First,
    Ours,
}

impl Implementation {
    fn name(self) -> &'static str {
        match self {
            Implementation::First => "first implementation (Node.js)",
            Implementation::Ours => "integration-sync",
        }
    }
}

/// One implementation's process, serving HTTP on `port`.
struct Service {
    implementation: Implementation,
    port: u16,
    child: Child,
    _data: tempfile::TempDir,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // COMPARE_KEEP_LOGS=<dir> keeps each service's log for diagnosis.
        if let Ok(dir) = std::env::var("COMPARE_KEEP_LOGS") {
            let name = format!("{}-{}.log", self.child.id(), self.port);
            let _ = std::fs::copy(
                self._data.path().join("service.log"),
                Path::new(&dir).join(name),
            );
        }
    }
}

struct World {
    options: Options,
    platform: FakePlatform,
    jwt_secret: String,
    first_database: String,
    _store: CosmosStore,
}

fn release_bin(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| format!("{}/../../target", env!("CARGO_MANIFEST_DIR")));
    Path::new(&target).join("release").join(name)
}

impl World {
    /// Starts `implementation`; `batches` chooses the batch-event path.
    async fn start(&self, implementation: Implementation, batches: bool) -> Service {
        let port = integration_tests::faults::free_port();
        let data = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(data.path().join("service.log")).unwrap();
        let mut command = match implementation {
            Implementation::First => {
                let mut c = Command::new("node");
                c.arg("dist/server.js")
                    .current_dir(&self.options.first_implementation)
                    .env("HOST", "127.0.0.1")
                    .env("COSMOS_DB_ENDPOINT", cosmos::emulator_endpoint())
                    .env("COSMOS_DB_KEY", cosmos::EMULATOR_KEY)
                    .env("COSMOS_DB_DATABASE_ID", &self.first_database)
                    // Its batch path starts above this many records.
                    .env(
                        "MAPPING_BATCH_THRESHOLD",
                        if batches { "100" } else { "1000000000" },
                    );
                c
            }
            Implementation::Ours => {
                let mut c = Command::new(release_bin("integration-sync"));
                c.current_dir(format!("{}/../..", env!("CARGO_MANIFEST_DIR")))
                    .env("DATA_DIR", data.path())
                    .env("RUST_LOG", "warn")
                    .env("MAPPING_BATCH_EVENTS", batches.to_string())
                    .envs(self.options.ours_env.iter().map(|(k, v)| (k, v)));
                c
            }
        };
        command
            .env("PORT", port.to_string())
            .env("JWT_SECRET", &self.jwt_secret)
            .env("RABBITMQ_URL", broker::rabbitmq_url())
            .env("INTEGRATION_MANAGER_URL", &self.platform.url)
            .env("SYNC_SCHEDULER_ENABLED", "false")
            .env("TOKEN_REFRESH_ENABLED", "false")
            // Both read a whole 100k-record integration in one sync, at once.
            .env("SYNC_MAX_RECORDS", "100000000")
            .env("SYNC_MIN_INTERVAL_MINUTES", "0")
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("starting {}: {e}", implementation.name());
        });
        let service = Service {
            implementation,
            port,
            child,
            _data: data,
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let answer = client
                .get(format!("http://127.0.0.1:{port}/health"))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} did not become healthy (log: {})",
                implementation.name(),
                service._data.path().join("service.log").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The first implementation connects its publisher after it answers.
        tokio::time::sleep(Duration::from_secs(1)).await;
        service
    }

    fn token(&self, tenant: Uuid) -> String {
        let mut claims = integration_tests::tokens::session_claims(tenant);
        // The first implementation's authenticateRequest wants it (PLATFORM.md).
        claims["type"] = json!("access");
        let settings = sync_core::config::JwtSettings {
            secret: self.jwt_secret.clone().into(),
            ..test_settings().jwt
        };
        integration_tests::tokens::signed(&settings, &claims)
    }
}

/// One sync: from the trigger until `expected` messages reached the sink and,
/// for integration-sync, its task ended. Seconds, or why it failed.
async fn sync_once(
    world: &World,
    service: &Service,
    sink: &Sink,
    integration: &Integration,
    expected_messages: u64,
) -> Result<(f64, f64), String> {
    sink.purge().await;
    let cpu_before = cpu_seconds(service);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", service.port);
    let tenant = integration.tenant_id;
    let token = world.token(tenant);
    let started = Instant::now();
    let answer = client
        .post(format!("{base}/api/v1/sync/trigger"))
        .bearer_auth(&token)
        .header("X-Tenant-ID", tenant.to_string())
        .json(&json!({"integrationId": integration.id, "direction": "inbound", "entityType": "deals"}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or_default();
    if status != 202 {
        return Err(format!("trigger answered {status}: {body}"));
    }
    let task_id = body["taskId"].as_str().unwrap_or_default().to_owned();
    let mut task_ended = service.implementation == Implementation::First;
    let mut published = 0;
    let mut ended_at = started.elapsed();
    while started.elapsed() < RUN_LIMIT {
        if published < expected_messages {
            published = sink.count().await;
            ended_at = started.elapsed();
        }
        if !task_ended {
            let task: Value = client
                .get(format!("{base}/api/v1/sync/tasks/{task_id}"))
                .bearer_auth(&token)
                .header("X-Tenant-ID", tenant.to_string())
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            match task["status"].as_str() {
                Some("completed") => {
                    task_ended = true;
                    ended_at = ended_at.max(started.elapsed());
                }
                Some("failed" | "cancelled") => return Err(format!("the task ended {task}")),
                _ => {}
            }
        }
        if task_ended && published >= expected_messages {
            return Ok((ended_at.as_secs_f64(), cpu_seconds(service) - cpu_before));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Err(format!(
        "not done within {RUN_LIMIT:?}: {published} of {expected_messages} messages"
    ))
}

/// CPU seconds the service's process has used so far (all its threads).
fn cpu_seconds(service: &Service) -> f64 {
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", service.child.id())).unwrap_or_default();
    // The fields after the command name, which ends at the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, in clock ticks of 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mb(service: &Service) -> f64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", service.child.id())).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// A round's rate in records/s and the service's CPU time per record in
/// µs, or why it failed.
type Rate = Result<(f64, f64), String>;

/// Rates of each round and the peak RSS, per implementation and scenario.
#[derive(Default)]
struct Results {
    rows: Vec<(String, Implementation, Vec<Rate>, f64)>,
}

impl Results {
    fn add(&mut self, scenario: &str, implementation: Implementation, rate: Rate, rss: f64) {
        match self
            .rows
            .iter_mut()
            .find(|(s, i, ..)| s == scenario && *i == implementation)
        {
            Some((_, _, rates, peak)) => {
                rates.push(rate);
                *peak = peak.max(rss);
            }
            None => self
                .rows
                .push((scenario.to_owned(), implementation, vec![rate], rss)),
        }
    }

    fn best(&self, scenario: &str, implementation: Implementation) -> Option<f64> {
        self.rows
            .iter()
            .find(|(s, i, ..)| s == scenario && *i == implementation)
            .and_then(|(_, _, rates, _)| {
                rates
                    .iter()
                    .filter_map(|r| r.as_ref().ok().map(|(rate, _)| *rate))
                    .reduce(f64::max)
            })
    }

    fn table(&self) -> String {
        let mut out = String::from(
            "| scenario | implementation | records/s, each round | CPU per record, each round | peak RSS | ratio (best to best) |\n| --- | --- | --- | --- | --- | --- |\n",
        );
        for (scenario, implementation, rates, rss) in &self.rows {
            let rounds: Vec<String> = rates
                .iter()
                .map(|r| match r {
                    Ok((rate, _)) => format!("{rate:.0}"),
                    Err(why) => format!("failed ({})", why.chars().take(120).collect::<String>()),
                })
                .collect();
            let cpu: Vec<String> = rates
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .map(|(_, cpu)| format!("{cpu:.1} µs"))
                .collect();
            let ratio = match (
                implementation,
                self.best(scenario, Implementation::Ours),
                self.best(scenario, Implementation::First),
            ) {
                (Implementation::Ours, Some(ours), Some(first)) => {
                    format!("**{:.2}×** the first implementation", ours / first)
                }
                _ => "—".into(),
            };
            out.push_str(&format!(
                "| {scenario} | {} | {} | {} | {rss:.0} MB | {ratio} |\n",
                implementation.name(),
                rounds.join(" / "),
                cpu.join(" / ")
            ));
        }
        out
    }
}

#[tokio::main]
async fn main() {
    let options = options();
    let tenant = Uuid::new_v4();
    // A fresh integration per sync: a first sync never finds earlier state.
    let integrations: Vec<Integration> = (0..options.rounds * 4)
        .map(|_| integration(tenant))
        .collect();
    let platform = FakePlatform::start(integrations.clone()).await;
    platform.serve_the_first_implementation();
    platform.set_fetchable(deals(options.records.max(options.per_record)));
    let (store, first_database) = cosmos::fresh_platform_database().await;
    let world = World {
        jwt_secret: test_settings().jwt.secret.expose_secret().to_owned(),
        options,
        platform,
        first_database,
        _store: store,
    };
    let sink = Sink::bind().await;
    let mut results = Results::default();
    let mut next = integrations.iter();
    let records = world.options.records;
    for round in 0..world.options.rounds {
        for implementation in [Implementation::First, Implementation::Ours] {
            eprintln!("round {}: {} (batches)", round + 1, implementation.name());
            let service = world.start(implementation, true).await;
            let integration = next.next().unwrap();
            let first = sync_once(&world, &service, &sink, integration, records / BATCH).await;
            // The first implementation has no change detection: a re-sync
            // publishes everything again; integration-sync publishes nothing.
            let again = match implementation {
                Implementation::First => records / BATCH,
                Implementation::Ours => 0,
            };
            let resync = sync_once(&world, &service, &sink, integration, again).await;
            let rss = peak_rss_mb(&service);
            let rate = |r: Result<(f64, f64), String>| -> Rate {
                r.map(|(s, cpu)| (records as f64 / s, cpu / records as f64 * 1e6))
            };
            results.add(
                &format!("first sync, {records} records, batch events"),
                implementation,
                rate(first),
                rss,
            );
            results.add(
                &format!("re-sync, {records} unchanged records, batch events"),
                implementation,
                rate(resync),
                rss,
            );
            drop(service);
        }
    }
    let per_record = world.options.per_record;
    if per_record > 0 {
        world.platform.set_fetchable(deals(per_record));
        for round in 0..world.options.rounds {
            for implementation in [Implementation::First, Implementation::Ours] {
                eprintln!(
                    "round {}: {} (per-record events)",
                    round + 1,
                    implementation.name()
                );
                let service = world.start(implementation, false).await;
                let integration = next.next().unwrap();
                let first = sync_once(&world, &service, &sink, integration, per_record).await;
                let rss = peak_rss_mb(&service);
                results.add(
                    &format!("first sync, {per_record} records, per-record events"),
                    implementation,
                    first.map(|(s, cpu)| (per_record as f64 / s, cpu / per_record as f64 * 1e6)),
                    rss,
                );
            }
        }
    }
    sink.delete().await;
    let table = results.table();
    println!("{table}");
    if world.options.write {
        write_into_benchmarks(&table);
    }
}

/// Replaces the side-by-side table in BENCHMARKS.md.
fn write_into_benchmarks(table: &str) {
    let path = format!("{}/../../BENCHMARKS.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- side-by-side -->", "<!-- /side-by-side -->");
    let (Some(a), Some(b)) = (text.find(start), text.find(end)) else {
        eprintln!("BENCHMARKS.md has no {start} … {end} section; not written");
        return;
    };
    let updated = format!("{}{start}\n\n{table}\n{}", &text[..a], &text[b..]);
    std::fs::write(&path, updated).unwrap();
}
