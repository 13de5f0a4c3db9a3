//! A webhook receiver: `tests/webhooks/receiver.py`, a real HTTP server on
//! loopback that verifies every delivery with the Python `standardwebhooks`
//! package (code orderly does not share) and logs one JSON line per
//! request. Killed when dropped; started again on the same port to come
//! back after an outage.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Receiver {
    pub port: u16,
    secret: Option<String>,
    log: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

/// The venv `scripts/install/webhook-receiver.sh` makes.
fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-webhooks/bin/python");
    assert!(
        python.exists(),
        "the webhook receiver's venv is missing: run `bash scripts/install/webhook-receiver.sh` \
         (.ci/run does) to make {}",
        python.display()
    );
    python
}

impl Receiver {
    /// A receiver on a free port, not listening yet: its URL is known
    /// before the endpoint (and so the secret) exists.
    pub fn on_a_free_port() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().unwrap();
        Self {
            port,
            secret: None,
            log: dir.path().join("received.jsonl"),
            child: None,
            _dir: dir,
        }
    }

    /// Verifies with `secret` from now on.
    pub fn with_secret(&mut self, secret: &str) -> &mut Self {
        self.secret = Some(secret.to_owned());
        self
    }

    /// Starts (again) on its port, answering `status` after `delay_ms`.
    pub async fn listen(&mut self, status: u16, delay_ms: u64) {
        let secret = self.secret.clone().expect("a secret to verify with");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks/receiver.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--port", &self.port.to_string(), "--secret", &secret])
            .args([
                "--status",
                &status.to_string(),
                "--delay-ms",
                &delay_ms.to_string(),
            ])
            .arg("--log")
            .arg(&self.log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the receiver starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the receiver listens within 20 s")
            .unwrap()
            .expect("the receiver says where it listens");
        self.port = line
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not a port: {line}"));
        self.child = Some(child);
    }

    /// Kills it: its port refuses connections until `listen` again.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    /// Every request it received, in order of arrival.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// The `webhook-id` of every request, in order of arrival.
    pub fn ids(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|r| r["webhook_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}
