//! Background execution of tasks, with a graceful stop: on shutdown running
//! tasks are told to stop at their next page and given a grace period to record
//! how they ended.

use std::{future::Future, time::Duration};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

#[derive(Default, Clone)]
pub struct TaskRunner {
    tracker: TaskTracker,
    shutdown: CancellationToken,
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

    /// Asks every task to stop and waits up to `grace` for them to finish.
    /// Returns whether they all finished in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
    }

    /// Waits until no task is running (tests and benchmarks).
    pub async fn idle(&self) {
        while !self.tracker.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
