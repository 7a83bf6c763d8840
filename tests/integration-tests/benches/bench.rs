//! The benchmark run (issue 10): the service against the limits of its own
//! machine, in one run, as ratios. `scripts/bench` runs it and writes
//! BENCHMARKS.md. No assertion here: the table is the check.
//!
//! Each sync row runs in a child process of this binary, so its peak RSS is
//! its own (`/proc/self/status` VmHWM).

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use futures::future::join_all;
use integration_tests::{broker, sandbox_integration, spawn::test_settings};
use lapin::{BasicProperties, options::*, types::FieldTable};
use serde_json::{Value, json};
use sync_core::{domain::sync_state::EntityCursor, ports::Collection};
use wiring::App;

fn rss_kb(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn self_peak_rss_mb() -> f64 {
    rss_kb(
        &std::fs::read_to_string("/proc/self/status").unwrap_or_default(),
        "VmHWM:",
    ) as f64
        / 1024.0
}

fn pid_rss_mb(pid: u32) -> f64 {
    rss_kb(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default(),
        "VmRSS:",
    ) as f64
        / 1024.0
}

/// A durable queue bound to `#`: messages are routed and written, as in production.
async fn sink(exchange: &str) -> (lapin::Connection, String) {
    let connection = broker::connect().await;
    let channel = connection.create_channel().await.unwrap();
    let queue = format!("{exchange}.sink");
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    broker::bind_to_everything(&channel, &queue, exchange).await;
    (connection, queue)
}

async fn drop_sink(connection: &lapin::Connection, exchange: &str, queue: &str) {
    let channel = connection.create_channel().await.unwrap();
    let _ = channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
    let _ = channel
        .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
        .await;
}

/// Raw lapin: persistent messages of `size` bytes, confirms pipelined in windows.
async fn baseline(messages: usize, size: usize) -> f64 {
    let exchange = format!("bench.baseline.{}", uuid::Uuid::new_v4().simple());
    let (connection, queue) = sink(&exchange).await;
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let body = vec![b'x'; size];
    let started = Instant::now();
    for window in (0..messages).collect::<Vec<_>>().chunks(1000) {
        let mut confirms = Vec::with_capacity(window.len());
        for _ in window {
            let props = BasicProperties::default().with_delivery_mode(2);
            confirms.push(
                channel
                    .basic_publish(
                        exchange.as_str().into(),
                        "bench".into(),
                        BasicPublishOptions::default(),
                        &body,
                        props,
                    )
                    .await
                    .unwrap(),
            );
        }
        for confirm in join_all(confirms).await {
            confirm.unwrap();
        }
    }
    let rate = messages as f64 / started.elapsed().as_secs_f64();
    drop_sink(&connection, &exchange, &queue).await;
    rate
}

/// Child mode: one sandbox sync of `records` records; prints its figures as JSON.
async fn child_sync(records: u64, per_record: bool, resync: bool) {
    let fixture = sandbox_integration(&["contact"], records);
    let mut settings = test_settings();
    let data = tempfile::tempdir().unwrap();
    settings.storage.data_dir = data.path().display().to_string();
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("integrations.yaml");
    std::fs::write(
        &file,
        json!({"integrations": [fixture.integration.clone()]}).to_string(),
    )
    .unwrap();
    settings.storage.integrations_file = file.display().to_string();
    settings.sync_limits.page_size = 1000;
    settings.log.filter = "warn".into();
    // Batch events are off by default (per-record, what the platform reads).
    settings.mapping.batch_events = !per_record;
    let (connection, queue) = sink(&settings.rabbitmq.exchange).await;
    let app = App::build(settings.clone()).await.unwrap();
    let run = |app: &App| {
        let engine = app.core.engine.clone();
        let (tenant, id) = (fixture.tenant, fixture.integration.id.clone());
        async move {
            let request = sync_core::engine::TriggerRequest {
                integration_id: id,
                direction: sync_core::domain::Direction::Inbound,
                entity_type: None,
                filters: None,
                triggered_by: None,
            };
            let started = Instant::now();
            let task = engine.trigger(tenant, request).await.unwrap();
            engine.runner().idle().await;
            let task = engine.get_task(tenant, task.task_id).await.unwrap();
            assert_eq!(
                task.status,
                sync_core::domain::TaskStatus::Completed,
                "{task:?}"
            );
            (started.elapsed().as_secs_f64(), task)
        }
    };
    let (mut seconds, mut task) = run(&app).await;
    if resync {
        // Forget the cursor: the next run reads every record again, all unchanged.
        let cursor = EntityCursor::document_id(&fixture.integration.id, "contact");
        app.core
            .store
            .clone()
            .delete(Collection::SyncState, fixture.tenant, &cursor, None)
            .await
            .unwrap();
        (seconds, task) = run(&app).await;
    }
    let processed = task.counters.records_processed
        + task.counters.records_unchanged
            * u64::from(resync && task.counters.records_processed == 0);
    println!(
        "{}",
        json!({"records": records, "seconds": seconds, "processed": processed, "unchanged": task.counters.records_unchanged, "peakRssMb": self_peak_rss_mb()})
    );
    drop_sink(&connection, &settings.rabbitmq.exchange, &queue).await;
}

fn run_child(args: &[&str]) -> Value {
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(exe)
        .arg("child")
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("child {args:?} printed no result: {text}"));
    serde_json::from_str(line).unwrap()
}

fn release_bin(name: &str) -> std::path::PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| format!("{}/../../target", env!("CARGO_MANIFEST_DIR")));
    std::path::Path::new(&target).join("release").join(name)
}

/// Container: start to the first healthy /health, then idle RSS.
async fn container_start() -> (f64, f64, u16, std::process::Child, tempfile::TempDir) {
    let port = integration_tests::faults::free_port();
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let child = std::process::Command::new(release_bin("integration-sync"))
        .env("PORT", port.to_string())
        .env("DATA_DIR", data.path())
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .env("SYNC_MIN_INTERVAL_MINUTES", "0")
        .env("SYNC_MAX_CONCURRENT_PER_TENANT", "1000")
        .current_dir(format!("{}/../..", env!("CARGO_MANIFEST_DIR")))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let client = outgoing_http::client_builder().build().unwrap();
    let healthy_after = loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            && r.status() == 200
        {
            break started.elapsed().as_secs_f64() * 1000.0;
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = pid_rss_mb(child.id());
    (healthy_after, rss, port, child, data)
}

/// A function: start to its first Runtime API request, RSS then, stripped size.
/// Writes dirty pages back and lets the disk go quiet.
fn settle_disk() {
    let _ = std::process::Command::new("sync").status();
    std::thread::sleep(Duration::from_secs(2));
}

fn function_start(name: &str, env: &[(&'static str, String)]) -> (f64, f64, f64) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = std::process::Command::new(release_bin(name))
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (_connection, _) = listener.accept().unwrap();
    let first_request_ms = started.elapsed().as_secs_f64() * 1000.0;
    std::thread::sleep(Duration::from_millis(200));
    let rss = pid_rss_mb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let size = std::fs::metadata(release_bin(name))
        .map(|m| m.len() as f64 / 1_048_576.0)
        .unwrap_or(0.0);
    (first_request_ms, size, rss)
}

/// Each function's cold start, as a deployment starts it: its store on the
/// Cosmos DB emulator (connected before the first request, as on Lambda) and
/// the real RabbitMQ (connecting in the background).
async fn function_rows(rows: &mut Vec<String>, bench: &str) {
    let deployment = integration_tests::lambda::deployment(&[], &[]).await;
    for name in integration_tests::lambda::FUNCTIONS {
        // The median of five cold starts: one start is at the mercy of the
        // shared machine's scheduler.
        let mut starts: Vec<_> = (0..5)
            .map(|_| function_start(name, &deployment.env))
            .collect();
        starts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (first_ms, size, rss) = starts[2];
        row(
            rows,
            &format!(
                "Function `{name}`: start → first runtime API request, Cosmos DB connected (median of 5); stripped size; RSS"
            ),
            "≤ 10 ms, ≤ 15 MB, ≤ 30 MB",
            format!("{first_ms:.1} ms, {size:.1} MB, {rss:.1} MB"),
            format!(
                "{:.2} / {:.2} / {:.2} of targets",
                first_ms / 10.0,
                size / 15.0,
                rss / 30.0
            ),
            bench,
        );
    }
}

/// The functions' rows of the table in BENCHMARKS.md, as the last full run
/// wrote them, each marked as carried over.
fn carry_function_rows(rows: &mut Vec<String>) {
    let path = format!("{}/../../BENCHMARKS.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let results = text.split("<!-- results -->").nth(1).unwrap_or("");
    const CARRIED: &str = "| (carried over from the previous full run) Function `";
    for line in results.lines() {
        if line.starts_with(CARRIED) {
            // Carried before and not measured since: carried again.
            rows.push(line.to_owned());
        } else if line.starts_with("| Function `") {
            rows.push(line.replacen("| Function `", CARRIED, 1));
        }
    }
}

fn wrk(url: &str, headers: &[String], script: Option<&str>) -> (f64, String) {
    let mut command = std::process::Command::new("wrk");
    command.args(["-t2", "-c64", "-d10s", "--latency"]);
    for header in headers {
        command.args(["-H", header]);
    }
    if let Some(script) = script {
        command.args(["-s", script]);
    }
    let output = command.arg(url).output().expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_owned();
    (rps, p99)
}

/// Open-loop load at a fixed rate over `connections` connections (as wrk2
/// does): a GET falls due every 1/`rate` s for `seconds`, waits for a free
/// connection if all are busy, and is timed from when it fell due, so a
/// server that falls behind is charged for the queue it builds.
/// Returns (answered per second, p50 ms, p99 ms, failures).
async fn fixed_rate(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    rate: u32,
    seconds: u32,
    connections: usize,
) -> (f64, f64, f64, usize) {
    let every = Duration::from_secs_f64(1.0 / f64::from(rate));
    let free = std::sync::Arc::new(tokio::sync::Semaphore::new(connections));
    let started = tokio::time::Instant::now();
    let mut requests = Vec::with_capacity((rate * seconds) as usize);
    for n in 0..rate * seconds {
        let due = started + every * n;
        tokio::time::sleep_until(due).await;
        let mut request = client.get(url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let free = free.clone();
        requests.push(tokio::spawn(async move {
            let _connection = free.acquire_owned().await.unwrap();
            let ok = matches!(request.send().await, Ok(r) if r.status() == 200);
            (due.elapsed().as_secs_f64() * 1000.0, ok)
        }));
    }
    let mut latencies = Vec::with_capacity(requests.len());
    let mut failures = 0;
    for request in requests {
        let (ms, ok) = request.await.unwrap();
        latencies.push(ms);
        failures += usize::from(!ok);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    (
        latencies.len() as f64 / elapsed,
        at(0.50),
        at(0.99),
        failures,
    )
}

fn row(
    rows: &mut Vec<String>,
    what: &str,
    target: &str,
    measured: String,
    ratio: String,
    command: &str,
) {
    println!("{what}: {measured} ({ratio})");
    rows.push(format!(
        "| {what} | {target} | {measured} | {ratio} | `{command}` |"
    ));
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let records: u64 = args[2].parse().unwrap();
        child_sync(
            records,
            args.iter().any(|a| a == "per-record"),
            args.iter().any(|a| a == "resync"),
        )
        .await;
        return;
    }
    let mut rows = Vec::new();
    let bench = "scripts/bench";
    if args.iter().any(|a| a == "functions-only") {
        // `scripts/bench functions-only`: the functions' rows alone, printed.
        function_rows(&mut rows, "scripts/bench functions-only").await;
        println!("{}", rows.join("\n"));
        return;
    }
    let kib = baseline(100_000, 1024).await;
    row(
        &mut rows,
        "Broker baseline (a): raw lapin, 1 KiB persistent, pipelined confirms",
        "—",
        format!("{kib:.0} msg/s"),
        "1.00".into(),
        bench,
    );
    let batch_bytes = 50 * 1200;
    let batch = baseline(4_000, batch_bytes).await;
    let batch_records = batch * 50.0;
    row(
        &mut rows,
        "Broker baseline (b): raw lapin, one raw.batch event (~60 KB)",
        "—",
        format!("{batch:.0} msg/s = {batch_records:.0} records/s"),
        "1.00".into(),
        bench,
    );

    let per_record = run_child(&["10000", "per-record"]);
    let rate = per_record["records"].as_f64().unwrap() / per_record["seconds"].as_f64().unwrap();
    row(
        &mut rows,
        "Inbound sync, per-record events (10k)",
        "≥ 80 % of (a)",
        format!("{rate:.0} records/s"),
        format!("{:.2} of (a)", rate / kib),
        bench,
    );

    let mut per_record_time = Vec::new();
    for records in [10_000u64, 100_000, 1_000_000] {
        let result = run_child(&[&records.to_string()]);
        let seconds = result["seconds"].as_f64().unwrap();
        let rate = records as f64 / seconds;
        per_record_time.push(seconds / records as f64 * 1e6);
        row(
            &mut rows,
            &format!(
                "Inbound sync, batched ({}k), state writes included",
                records / 1000
            ),
            "≥ 150,000 records/s, ≥ 80 % of (b), RSS ≤ 100 MB at 1M",
            format!(
                "{rate:.0} records/s, {:.3} s, peak RSS {:.0} MB, {:.2} µs/record",
                seconds,
                result["peakRssMb"].as_f64().unwrap(),
                seconds / records as f64 * 1e6
            ),
            format!("{:.2} of (b)", rate / batch_records),
            bench,
        );
    }
    let resync = run_child(&["1000000", "resync"]);
    let resync_rate = 1_000_000.0 / resync["seconds"].as_f64().unwrap();
    row(
        &mut rows,
        "Re-sync of unchanged data (1M, cursor forgotten: every record read and compared)",
        "≥ 300,000 records/s",
        format!(
            "{resync_rate:.0} records/s, peak RSS {:.0} MB",
            resync["peakRssMb"].as_f64().unwrap()
        ),
        format!("{:.2} of target", resync_rate / 300_000.0),
        bench,
    );

    // The syncs above leave about 1.5 GB of dirty pages; their write-back would
    // stall the fsyncs of the start-ups measured next, so flush it first.
    settle_disk();
    let (healthy_ms, idle_rss, port, mut container, _data) = container_start().await;
    row(
        &mut rows,
        "Container: start → first healthy /health",
        "≤ 100 ms",
        format!("{healthy_ms:.1} ms"),
        format!("{:.2} of target", healthy_ms / 100.0),
        bench,
    );
    row(
        &mut rows,
        "Container: idle RSS",
        "≤ 20 MB",
        format!("{idle_rss:.1} MB"),
        format!("{:.2} of target", idle_rss / 20.0),
        bench,
    );

    if args.iter().any(|a| a == "keep-function-rows") {
        // `scripts/bench keep-function-rows`: the functions' rows of the last
        // full run are carried over (they need every function built as
        // deployed), marked so.
        carry_function_rows(&mut rows);
    } else {
        function_rows(&mut rows, bench).await;
    }

    // HTTP API under wrk: the demo tenant's token, a task to read.
    let token = String::from_utf8(
        std::process::Command::new(release_bin("integration-sync"))
            .arg("token")
            .current_dir(format!("{}/../..", env!("CARGO_MANIFEST_DIR")))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let tenant = "00000000-0000-4000-8000-000000000001";
    let client = outgoing_http::client_builder().build().unwrap();
    let task: Value = client
        .post(format!("http://127.0.0.1:{port}/api/v1/sync/trigger"))
        .bearer_auth(&token)
        .header("X-Tenant-ID", tenant)
        .json(&json!({"integrationId": "5f0c8a52-4a1e-4c53-9d2b-0c1d2e3f4a5b", "direction": "inbound", "entityType": "account"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let headers = vec![
        format!("Authorization: Bearer {token}"),
        format!("X-Tenant-ID: {tenant}"),
    ];
    let (rps, p99) = wrk(
        &format!(
            "http://127.0.0.1:{port}/api/v1/sync/tasks/{}",
            task["taskId"].as_str().unwrap()
        ),
        &headers,
        None,
    );
    row(
        &mut rows,
        "HTTP GET /api/v1/sync/tasks/{id} (wrk -t2 -c64 -d10s)",
        "≥ 20,000 req/s; p99 ≤ 5 ms at half rate",
        format!("{rps:.0} req/s, p99 {p99} at full load"),
        format!("{:.2} of target", rps / 20_000.0),
        bench,
    );
    let (answered, p50, p99, failures) = fixed_rate(
        &client,
        &format!(
            "http://127.0.0.1:{port}/api/v1/sync/tasks/{}",
            task["taskId"].as_str().unwrap()
        ),
        &[
            ("Authorization", format!("Bearer {token}")),
            ("X-Tenant-ID", tenant.to_owned()),
        ],
        10_000,
        10,
        64,
    )
    .await;
    row(
        &mut rows,
        "HTTP GET /api/v1/sync/tasks/{id} at half the target rate (open loop over 64 connections, 10,000 req/s for 10 s, each timed from when it fell due)",
        "p99 ≤ 5 ms",
        format!(
            "{answered:.0} req/s answered, p50 {p50:.2} ms, p99 {p99:.2} ms, {failures} failed"
        ),
        format!("{:.2} of target", p99 / 5.0),
        bench,
    );
    let script = std::env::temp_dir().join("trigger.lua");
    std::fs::write(&script, "wrk.method = \"POST\"\nwrk.body = '{\"integrationId\":\"5f0c8a52-4a1e-4c53-9d2b-0c1d2e3f4a5b\",\"direction\":\"inbound\",\"entityType\":\"account\"}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n").unwrap();
    let (rps, p99) = wrk(
        &format!("http://127.0.0.1:{port}/api/v1/sync/trigger"),
        &headers,
        Some(script.to_str().unwrap()),
    );
    row(
        &mut rows,
        "HTTP POST /api/v1/sync/trigger (wrk, each starts a 200-record sync)",
        "—",
        format!("{rps:.0} req/s, p99 {p99}"),
        "—".into(),
        bench,
    );
    let _ = container.kill();
    let _ = container.wait();

    let table = format!(
        "| measurement | target | measured | ratio | command |\n| --- | --- | --- | --- | --- |\n{}\n",
        rows.join("\n")
    );
    let path = format!("{}/../../BENCHMARKS.md", env!("CARGO_MANIFEST_DIR"));
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    let head = previous
        .split("<!-- results -->")
        .next()
        .unwrap_or("")
        .to_owned();
    std::fs::write(&path, format!("{head}<!-- results -->\n\n{table}")).unwrap();
    println!("\n{table}");
}
