//! A throwaway PostgreSQL primary with two hot standbys (the first
//! synchronous), made by `scripts/topology/replicas.sh` on loopback ports of the
//! test's own, never the shared server. Removed when dropped, panics
//! included; a cluster left by a killed run is removed by the next `up`.

use std::path::PathBuf;
use std::process::Command;

use tokio_postgres::NoTls;

pub struct Cluster {
    dir: String,
    port: u16,
    /// What `replicas.sh` is told besides the directory and port.
    env: Vec<(&'static str, String)>,
    /// Files of the test's own made for it, removed with it.
    setup: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Primary,
    Standby1,
    Standby2,
}

impl Node {
    fn name(self) -> &'static str {
        match self {
            Node::Primary => "primary",
            Node::Standby1 => "standby1",
            Node::Standby2 => "standby2",
        }
    }
}

impl Cluster {
    /// A cluster in `/tmp/orderly-test-<name>` with its primary on `port`
    /// and the standbys on the next two ports.
    pub fn up(name: &str, port: u16) -> Self {
        let cluster = Self {
            dir: format!("/tmp/orderly-test-{name}"),
            port,
            env: Vec::new(),
            setup: None,
        };
        cluster.run(&["up"]);
        cluster
    }

    /// A cluster as `up` makes it, with `conf` appended to the primary's
    /// postgresql.conf (and so to the standbys', copied from it).
    pub fn up_with(name: &str, port: u16, conf: &str) -> Self {
        let files = format!("/tmp/orderly-test-{name}-setup");
        std::fs::create_dir_all(&files).expect("a directory in /tmp");
        let conf_file = format!("{files}/postgresql.conf");
        std::fs::write(&conf_file, conf).expect("writes the settings");
        let cluster = Self {
            dir: format!("/tmp/orderly-test-{name}"),
            port,
            env: vec![("ORDERLY_CLUSTER_CONF", conf_file)],
            setup: Some(files),
        };
        cluster.run(&["up"]);
        cluster
    }

    /// A lone primary in `/tmp/orderly-test-<name>` on `port`, with
    /// `conf` appended to its postgresql.conf and, when given, `hba` as its
    /// pg_hba.conf (`replicas.sh` with `ORDERLY_CLUSTER_STANDBYS=0`).
    pub fn lone(name: &str, port: u16, conf: &str, hba: Option<&str>) -> Self {
        let files = format!("/tmp/orderly-test-{name}-setup");
        std::fs::create_dir_all(&files).expect("a directory in /tmp");
        let conf_file = format!("{files}/postgresql.conf");
        std::fs::write(&conf_file, conf).expect("writes the settings");
        let mut env = vec![
            ("ORDERLY_CLUSTER_STANDBYS", "0".to_owned()),
            ("ORDERLY_CLUSTER_CONF", conf_file),
        ];
        if let Some(hba) = hba {
            let hba_file = format!("{files}/pg_hba.conf");
            std::fs::write(&hba_file, hba).expect("writes the rules");
            env.push(("ORDERLY_CLUSTER_HBA", hba_file));
        }
        let cluster = Self {
            dir: format!("/tmp/orderly-test-{name}"),
            port,
            env,
            setup: Some(files),
        };
        cluster.run(&["up"]);
        cluster
    }

    fn run(&self, args: &[&str]) -> String {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/topology/replicas.sh");
        let out = Command::new("bash")
            .arg(script)
            .args(args)
            .env("ORDERLY_CLUSTER_DIR", &self.dir)
            .env("ORDERLY_CLUSTER_PORT", self.port.to_string())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "scripts/topology/replicas.sh {} failed: it needs PostgreSQL's server binaries \
             (/usr/lib/postgresql/*/bin, or PG_BIN) and root, to run them as the postgres user; \
             ports {}-{} free. Its output, servers' logs included:\n{}{}",
            args.join(" "),
            self.port,
            self.port + 2,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn port_of(&self, node: Node) -> u16 {
        self.port
            + match node {
                Node::Primary => 0,
                Node::Standby1 => 1,
                Node::Standby2 => 2,
            }
    }

    pub fn url(&self, node: Node) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.port_of(node)
        )
    }

    /// The primary's URL for orderly: either server that accepts writes.
    pub fn writable_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
            self.port_of(Node::Primary),
            self.port_of(Node::Standby1)
        )
    }

    /// Both standbys, as `ORDERLY_READ_REPLICA_URLS`.
    pub fn replica_urls(&self) -> String {
        format!("{},{}", self.url(Node::Standby1), self.url(Node::Standby2))
    }

    /// A connection to `node`, over its Unix socket (trusted on every
    /// node, TLS or not).
    pub async fn client(&self, node: Node) -> tokio_postgres::Client {
        let socket = format!(
            "host={} port={} user=postgres dbname=postgres",
            self.dir,
            self.port_of(node)
        );
        let (client, connection) = tokio_postgres::connect(&socket, NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to {node:?}: {e}"));
        tokio::spawn(connection);
        client
    }

    /// Runs `sql` on `node`; the first column of the first row, as text.
    pub async fn sql(&self, node: Node, sql: &str) -> String {
        let client = self.client(node).await;
        let rows = client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql} on {node:?}: {e}"));
        rows.iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Waits (5 s at most) until `count` commits wait on the primary for
    /// the synchronous standby (`wait_event = 'SyncRep'`).
    pub async fn until_waiting_for_the_standby(&self, count: u32) {
        let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.sql(Node::Primary, waiting).await != count.to_string() {
            assert!(
                std::time::Instant::now() < deadline,
                "not {count} commit(s) waiting for the standby"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Pauses replay on both standbys, and waits until it has stopped
    /// (`replicas.sh pause`).
    pub fn pause_replay(&self) {
        self.run(&["pause"]);
    }

    pub fn resume_replay(&self) {
        self.run(&["resume"]);
    }

    /// Waits (10 s at most) until both standbys have replayed all the
    /// primary has written (`replicas.sh caught-up`).
    pub fn until_standbys_replayed_all(&self) {
        self.run(&["caught-up"]);
    }

    /// `node` crashes: every backend killed at once, nothing flushed or
    /// said goodbye (`replicas.sh crash`).
    pub fn crash(&self, node: Node) {
        self.run(&["crash", node.name()]);
    }

    /// `node` shuts down cleanly (`replicas.sh stop`, `pg_ctl -m fast`):
    /// its backends are terminated, its connected standbys get all it
    /// wrote.
    pub fn stop(&self, node: Node) {
        self.run(&["stop", node.name()]);
    }

    /// `node` starts again after a crash or a stop (`replicas.sh start`); a
    /// standby reconnects to its primary.
    pub fn start(&self, node: Node) {
        self.run(&["start", node.name()]);
    }

    /// Promotes standby1 and points standby2 at it (`replicas.sh failover`).
    pub fn fail_over(&self) -> String {
        self.run(&["failover"])
    }

    /// A planned switch: the primary shuts down cleanly, then standby1 is
    /// promoted and standby2 follows it (`replicas.sh switchover`).
    pub fn switch_over(&self) -> String {
        self.run(&["switchover"])
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| self.run(&["down"]));
        if let Some(files) = &self.setup {
            let _ = std::fs::remove_dir_all(files);
        }
    }
}
