//! A RabbitMQ node started for one test, on its own AMQP and distribution
//! ports, data and logs in a temporary directory. `rabbitmqctl stop_app` on it
//! is the broker outage; the machine's shared node is never touched.

use std::{path::PathBuf, process::Command, time::Duration};

use super::free_port;

pub struct PrivateRabbitNode {
    node: String,
    port: u16,
    dir: tempfile::TempDir,
}

fn rabbitmqctl(node: &str, args: &[&str]) -> std::process::Output {
    Command::new("rabbitmqctl")
        .args(["-n", node])
        .args(args)
        .output()
        .expect("rabbitmqctl runs (Debian package rabbitmq-server)")
}

impl PrivateRabbitNode {
    /// Starts the node and waits until it accepts AMQP connections. Fails the
    /// test (never skips) when it cannot.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let dist_port = free_port();
        let node = format!("itfault{}x{}@localhost", std::process::id(), port);
        let path = |name: &str| -> PathBuf { dir.path().join(name) };
        std::fs::write(path("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(
            path("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n"),
        )
        .unwrap();
        // The server drops to the rabbitmq user; it must own its directory.
        let _ = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(dir.path())
            .status();
        let status = Command::new("rabbitmq-server")
            .arg("-detached")
            .env("RABBITMQ_NODENAME", &node)
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", path("rabbitmq.conf"))
            .env("RABBITMQ_MNESIA_BASE", path("mnesia"))
            .env("RABBITMQ_LOG_BASE", path("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", path("pid"))
            .status()
            .expect("rabbitmq-server runs (Debian package rabbitmq-server)");
        assert!(status.success(), "rabbitmq-server -detached failed");
        let broker = PrivateRabbitNode { node, port, dir };
        broker.wait_until_serving(Duration::from_secs(60)).await;
        broker
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// `rabbitmqctl stop_app`: every connection drops, the node stays up.
    pub async fn stop_app(&self) {
        let out = rabbitmqctl(&self.node, &["stop_app"]);
        assert!(out.status.success(), "stop_app: {out:?}");
    }

    /// New channels of `guest` may no longer publish to `exchange` (a
    /// publish fails with ACCESS_REFUSED); everything else stays allowed.
    pub async fn refuse_publishing_to(&self, exchange: &str) {
        let write = format!("^(?!{}$).*", exchange.replace('.', "\\."));
        let out = rabbitmqctl(
            &self.node,
            &["set_permissions", "-p", "/", "guest", ".*", &write, ".*"],
        );
        assert!(out.status.success(), "set_permissions: {out:?}");
    }

    /// `guest` may do everything again.
    pub async fn allow_everything(&self) {
        let out = rabbitmqctl(
            &self.node,
            &["set_permissions", "-p", "/", "guest", ".*", ".*", ".*"],
        );
        assert!(out.status.success(), "set_permissions: {out:?}");
    }

    /// `rabbitmqctl start_app`, then waits until AMQP is served again.
    pub async fn start_app(&self) {
        let out = rabbitmqctl(&self.node, &["start_app"]);
        assert!(out.status.success(), "start_app: {out:?}");
        self.wait_until_serving(Duration::from_secs(60)).await;
    }

    async fn wait_until_serving(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Each attempt bounded: one made while the node was still booting
            // once never answered (no socket, no timer: the test hung, where
            // it takes ten seconds).
            let connected = tokio::time::timeout(
                Duration::from_secs(5),
                lapin::Connection::connect(&self.url(), Default::default()),
            )
            .await;
            if let Ok(Ok(connection)) = connected {
                let _ = connection.close(200, "ok".into()).await;
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let log = std::fs::read_dir(self.dir.path().join("log"))
                    .ok()
                    .and_then(|mut d| d.next())
                    .and_then(|e| e.ok())
                    .and_then(|e| std::fs::read_to_string(e.path()).ok())
                    .unwrap_or_default();
                let tail: String = log.lines().rev().take(30).collect::<Vec<_>>().join("\n");
                panic!(
                    "the private RabbitMQ node {} did not serve AMQP within {timeout:?}; its log ends:\n{tail}",
                    self.node
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for PrivateRabbitNode {
    fn drop(&mut self) {
        let _ = rabbitmqctl(&self.node, &["stop"]);
    }
}
