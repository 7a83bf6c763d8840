//! `integration-sync sync --follow` and `integration-sync tasks` against a
//! running container binary: the non-terminal output shows the record count
//! rising and what remains; a task that does not complete exits non-zero
//! with its reason.

mod support;

use std::process::Stdio;

use integration_tests::sandbox_integration;
use support::{Site, token};
use tokio::io::{AsyncBufReadExt, BufReader};

const RECORDS: u64 = 60_000;

/// `(status, records, remaining)` of a progress line such as
/// `running: 1200 records, 3400 records/s, 12 pages, 58800 remaining`.
fn progress_of(line: &str) -> Option<(String, u64, Option<u64>)> {
    let (status, rest) = line.split_once(": ")?;
    let mut parts = rest.split(", ");
    let records = parts.next()?.strip_suffix(" records")?.parse().ok()?;
    let remaining = parts
        .find_map(|p| p.strip_suffix(" remaining"))
        .and_then(|n| n.parse().ok());
    Some((status.to_owned(), records, remaining))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_follow_shows_the_count_rising_and_fails_loudly_when_the_task_does_not_complete() {
    let fixture = sandbox_integration(&["account"], RECORDS);
    let site = Site::new(&[&fixture.integration]);
    let (_runner, base) = site.start("runner.log", &[]).await;
    let tenant = fixture.tenant.to_string();
    let api = ["--url", base.as_str(), "--tenant", tenant.as_str()];

    let followed = site
        .command("cli.log", &[])
        .args(["sync", "--integration", &fixture.integration.id, "--follow"])
        .args(api)
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&followed.stdout);
    assert!(followed.status.success(), "{out}{followed:?}");
    let progress: Vec<_> = out.lines().filter_map(progress_of).collect();
    let running: Vec<u64> = progress
        .iter()
        .filter(|(status, ..)| status == "running")
        .map(|(_, records, _)| *records)
        .collect();
    assert!(
        running.windows(2).all(|w| w[0] < w[1]) && running.iter().filter(|n| **n > 0).count() >= 2,
        "the count rises while it runs: {out}"
    );
    assert!(
        progress
            .iter()
            .any(|(_, records, remaining)| *records > 0 && *remaining == Some(RECORDS - records)),
        "what remains, as the provider said: {out}"
    );
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("completed: {RECORDS} records (created {RECORDS}")),
        "{out}"
    );

    let listed = site
        .command("cli.log", &[])
        .args(["tasks", "--integration", &fixture.integration.id])
        .args(api)
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("completed") && l.contains(&RECORDS.to_string())),
        "{table}"
    );

    // A second sync, cancelled while it is followed.
    let mut second = site
        .command("cli.log", &[])
        .args(["sync", "--integration", &fixture.integration.id, "--follow"])
        .args(api)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(second.stdout.take().unwrap()).lines();
    let task_line = lines.next_line().await.unwrap().expect("the task id");
    let task_id = task_line
        .strip_prefix("task ")
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{task_line}"))
        .to_owned();
    let cancel = site
        .http
        .post(format!("{base}/api/v1/sync/tasks/{task_id}/cancel"))
        .bearer_auth(token(fixture.tenant))
        .header("X-Tenant-ID", &tenant)
        .send()
        .await
        .unwrap();
    assert!(cancel.status().is_success(), "{:?}", cancel.text().await);
    let mut rest = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push(line);
    }
    let status = second.wait().await.unwrap();
    let rest = rest.join("\n");
    assert!(!status.success(), "a cancelled task exits non-zero: {rest}");
    assert!(rest.contains("cancelled:"), "{rest}");
}
