//! Prometheus metrics: every request counted and timed by route and status;
//! the engine and the bus add sync and publish counters.

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide recorder (metrics are global; every app in a process,
/// e.g. in tests, shares one registry).
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .expect("static buckets are valid")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// `install_recorder` leaves upkeep to its caller: until then every recorded
/// sample (one per request) is kept in memory, and nothing may ever scrape
/// `/metrics` (a container without Prometheus, a function) to drain them.
/// A thread rather than a task: the recorder is global, runtimes come and go.
fn spawn_upkeep(handle: PrometheusHandle) {
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        })
        .expect("a thread can be spawned at start-up");
}

pub async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    // The route template, never the raw path: ids would explode the label set.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    fn thread_names() -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .expect("Linux /proc")
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .collect()
    }

    #[test]
    fn the_recorder_comes_with_its_upkeep_thread() {
        let _handle = super::recorder();
        // A new thread carries its parent's name until it has run far enough
        // to set its own: wait for that, not for the upkeep itself.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let names = thread_names();
            if names.iter().any(|name| name == "metrics-upkeep") {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{names:?}");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
