//! A Cosmos DB emulator of the test's own (the shared tool on a free port),
//! and a network partition between it and everything else: iptables rejects
//! every packet to and from its port, so open connections reset and new ones
//! are refused, while the emulator keeps its (in-memory) data for after. The
//! emulator advertises its own address to clients, so a proxy in front of it
//! would be bypassed; a partition at the port cannot be.
//!
//! The rules carry a comment, [`PARTITION_RULE_COMMENT`]: a test killed while
//! partitioned (nextest's timeout sends SIGKILL, so no `Drop` runs) leaves its
//! rules behind, and whatever later gets that port (another test's app, on an
//! ephemeral port) would be cut off. `scripts/services-up` deletes every rule
//! with that comment before a run.

use std::{path::PathBuf, process::Command};

use super::free_port;

pub struct PrivateCosmosEmulator {
    port: u16,
    partitioned: bool,
}

fn tool() -> PathBuf {
    std::env::var_os("COSMOS_EMULATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/tools/cosmos-emulator/cosmos-emulator")
        })
}

/// Marks this suite's partition rules (see the module's comment).
const PARTITION_RULE_COMMENT: &str = "integration-sync-test-partition";

fn iptables(action: &str, port: u16) {
    for direction in ["--dport", "--sport"] {
        let status = Command::new("iptables")
            .args([action, "INPUT", "-p", "tcp", direction, &port.to_string()])
            .args(["-m", "comment", "--comment", PARTITION_RULE_COMMENT])
            .args(["-j", "REJECT", "--reject-with", "tcp-reset"])
            .status()
            .expect("iptables runs (the partition needs it)");
        assert!(status.success(), "iptables {action} for port {port} failed");
    }
}

impl PrivateCosmosEmulator {
    pub fn start() -> Self {
        let port = free_port();
        let out = Command::new(tool())
            .arg("start")
            .env("COSMOS_EMULATOR_PORT", port.to_string())
            .output()
            .unwrap_or_else(|e| panic!("the Cosmos emulator tool at {:?} runs: {e}", tool()));
        assert!(
            out.status.success(),
            "the private Cosmos emulator did not start: {out:?}"
        );
        PrivateCosmosEmulator {
            port,
            partitioned: false,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Cuts the emulator off the network.
    pub fn partition(&mut self) {
        iptables("-I", self.port);
        self.partitioned = true;
    }

    pub fn heal(&mut self) {
        if std::mem::take(&mut self.partitioned) {
            iptables("-D", self.port);
        }
    }
}

impl Drop for PrivateCosmosEmulator {
    fn drop(&mut self) {
        self.heal();
        let _ = Command::new(tool())
            .arg("stop")
            .env("COSMOS_EMULATOR_PORT", self.port.to_string())
            .status();
    }
}
