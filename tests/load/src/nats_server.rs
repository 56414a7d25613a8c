//! A NATS JetStream server of the run's own (so the chaos run can restart it without touching
//! the machine's shared server), storing streams on disk under the run directory.

use std::path::Path;
use std::time::Duration;

use crate::process::{Managed, free_port, wait_for_port};

/// A `nats-server -js` child process.
#[derive(Debug)]
pub struct NatsServer {
    process: Managed,
    port: u16,
}

impl NatsServer {
    /// Starts `nats-server` (from `PATH`) with JetStream and a file store under `dir`.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let store = dir.join("jetstream");
        std::fs::create_dir_all(&store)?;
        let mut process = Managed::new(
            "nats",
            Path::new("nats-server"),
            vec![
                "-js".into(),
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
                "-sd".into(),
                store.display().to_string(),
            ],
            Vec::new(),
            dir,
        );
        process.spawn()?;
        wait_for_port(port, Duration::from_secs(10)).await?;
        Ok(Self { process, port })
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server (gracefully, so JetStream flushes) and starts it again on the same port
    /// and store; returns once it accepts connections.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.process.terminate(Duration::from_secs(10)).await;
        self.process.spawn()?;
        wait_for_port(self.port, Duration::from_secs(20)).await
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Stops the server.
    pub async fn stop(&mut self) {
        self.process.terminate(Duration::from_secs(5)).await;
    }
}
