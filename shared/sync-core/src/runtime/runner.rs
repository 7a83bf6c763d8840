//! Background execution of tasks, with a graceful stop: on shutdown running
//! tasks are told to stop at their next page and given a grace period to record
//! how they ended.
//!
//! A host that is given a deadline (a function's invocation: Lambda kills the
//! sandbox then) sets it here; runs read it at every page boundary and hand
//! their task on before it. The container sets none.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

#[derive(Default, Clone)]
pub struct TaskRunner {
    tracker: TaskTracker,
    shutdown: CancellationToken,
    deadline: Arc<Mutex<Option<Instant>>>,
}

impl TaskRunner {
    pub fn cancellation(&self) -> CancellationToken {
        self.shutdown.child_token()
    }

    pub fn spawn<F>(&self, run: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(run);
    }

    /// Tasks still running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// When this process stops being able to work (`None`: never). Runs
    /// under way and started later read it.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        *self.deadline.lock().expect("deadline lock") = deadline;
    }

    /// Time left before the deadline; `None` without one.
    pub fn time_left(&self) -> Option<Duration> {
        let deadline = *self.deadline.lock().expect("deadline lock");
        deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Asks every task to stop and waits up to `grace` for them to finish.
    /// Returns whether they all finished in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
    }

    /// Waits until no task is running (tests, benchmarks, and a function
    /// before it answers).
    pub async fn idle(&self) {
        while !self.tracker.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_time_left_counts_down_to_the_deadline_and_none_means_none() {
        let runner = TaskRunner::default();
        assert_eq!(runner.time_left(), None);
        runner.set_deadline(Some(Instant::now() + Duration::from_secs(10)));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(runner.time_left(), Some(Duration::from_secs(6)));
        tokio::time::advance(Duration::from_secs(7)).await;
        assert_eq!(runner.time_left(), Some(Duration::ZERO));
        runner.set_deadline(None);
        assert_eq!(runner.time_left(), None);
    }
}
