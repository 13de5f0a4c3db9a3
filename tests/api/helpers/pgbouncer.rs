//! A throwaway PgBouncer of a test's own (`scripts/topology/pgbouncer.sh`, Debian's
//! package), in front of a server of the test's own, on a port of its
//! own. Stopped and removed when dropped.

use std::path::PathBuf;
use std::process::Command;

pub struct PgBouncer {
    dir: String,
    port: u16,
    server_port: u16,
    mode: &'static str,
}

impl PgBouncer {
    /// PgBouncer on `port` for the server on `server_port`, pooling by
    /// `mode` (`transaction`, with a short `server_lifetime`, or
    /// `session`, its stock settings).
    pub fn up(name: &str, port: u16, server_port: u16, mode: &'static str) -> Self {
        let bouncer = Self {
            dir: format!("/tmp/orderly-test-{name}-pgbouncer"),
            port,
            server_port,
            mode,
        };
        bouncer.run("up");
        bouncer
    }

    /// The database `postgres` through it.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Every server connection replaced (the admin console's `RECONNECT`).
    pub fn reconnect(&self) {
        self.run("reconnect");
    }

    fn run(&self, command: &str) {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/topology/pgbouncer.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(command)
            .env("ORDERLY_PGBOUNCER_DIR", &self.dir)
            .env("ORDERLY_PGBOUNCER_PORT", self.port.to_string())
            .env(
                "ORDERLY_PGBOUNCER_SERVER",
                format!("127.0.0.1:{}", self.server_port),
            )
            .env("ORDERLY_PGBOUNCER_MODE", self.mode)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "scripts/topology/pgbouncer.sh {command} failed: it needs Debian's pgbouncer package \
             (the script installs it with apt-get as root), and port {} free:\n{}{}",
            self.port,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| self.run("down"));
    }
}
