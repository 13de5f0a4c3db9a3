//! The database groups of settings: where the data lives and the pool in
//! front of it, PostgreSQL's own connections and time limits, and the read
//! replicas; and `DATABASE_URL` parsed into the backend it names.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use super::{millis, positive_millis};

/// Where the data lives, and the connections that wait in line for it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseSettings {
    /// `postgres://...` or `sqlite://PATH` (relative or absolute; created if missing).
    #[arg(
        long = "database-url",
        value_name = "URL",
        env = "DATABASE_URL",
        default_value = "sqlite://orderly.db",
        hide_env_values = true,
        global = true
    )]
    pub url: String,

    /// Most database connections the service keeps open for requests that
    /// need one of their own (PostgreSQL: transactions; SQLite: readers kept
    /// open, at most 4; writes go to one writer thread).
    #[arg(long = "pool-size", value_name = "N", env = "ORDERLY_POOL_SIZE", default_value_t = 16, global = true,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pool_size: u32,

    /// How long a request waits for a free database connection before 503,
    /// in milliseconds (SQLite: how long a write may wait behind whole
    /// batches of other writes; 0 = never behind a second batch).
    #[arg(long = "pool-timeout-ms", env = "ORDERLY_POOL_TIMEOUT_MS", default_value = "5000",
          value_name = "MS", value_parser = millis, global = true)]
    pub pool_timeout: Duration,

    /// What a 2xx on SQLite promises: `full` answers a write only once it
    /// is flushed to disk (one flush per batch of concurrent commits), so
    /// it survives a power cut; `normal` flushes only at checkpoints, so
    /// the last acknowledged writes may be lost to a power cut or an OS
    /// crash (never to a crash of orderly itself).
    #[arg(long = "sqlite-synchronous", env = "ORDERLY_SQLITE_SYNCHRONOUS", value_enum,
          default_value_t = SqliteSynchronous::Full, value_name = "full|normal", global = true,
          help_heading = "SQLite")]
    pub sqlite_synchronous: SqliteSynchronous,
}

/// What an answered write on SQLite promises about the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqliteSynchronous {
    /// Each commit batch's log is flushed to disk (fsync) before any of its
    /// requests is answered: an acknowledged write survives a power cut or
    /// an operating-system crash.
    Full,
    /// No flush at commit, only at checkpoints: an acknowledged write
    /// survives orderly's own crash, but the last ones may be lost to a
    /// power cut or an operating-system crash. Less I/O.
    Normal,
}

impl SqliteSynchronous {
    /// The value of SQLite's `PRAGMA synchronous`.
    pub fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

impl DatabaseSettings {
    pub fn target(&self) -> anyhow::Result<DatabaseTarget> {
        DatabaseTarget::parse(&self.url).context("bad configuration")
    }
}

/// PostgreSQL's own settings: its shared connections and its time limits.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "PostgreSQL")]
pub struct PostgresSettings {
    /// PostgreSQL connections that all reads share (pipelined); about one per core.
    #[arg(long = "pg-read-connections", value_name = "N", env = "ORDERLY_PG_READ_CONNECTIONS", default_value_t = 2,
          global = true, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub read_connections: u32,

    /// PostgreSQL connections that all single-statement writes share (pipelined).
    #[arg(long = "pg-write-connections", value_name = "N", env = "ORDERLY_PG_WRITE_CONNECTIONS", default_value_t = 8,
          global = true, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub write_connections: u32,

    /// How long one statement may run, in milliseconds. The server cancels
    /// a statement past it (503); orderly waits one second more, then drops
    /// a connection that does not answer at all (503).
    #[arg(long = "db-query-timeout-ms", env = "ORDERLY_DB_QUERY_TIMEOUT_MS",
          default_value = "5000", value_name = "MS", value_parser = positive_millis, global = true)]
    pub query_timeout: Duration,

    /// How long a request waits in all while no server takes its
    /// statements, a failover or switchover in progress (no host writable
    /// as `target_session_attrs=read-write` asks, the server shutting
    /// down), before 503, in milliseconds; work is tried again every
    /// 100 ms meanwhile, and an attempt then running may take one statement
    /// limit more. Only work certain not to have run is tried again. 0
    /// answers 503 at once.
    #[arg(long = "db-failover-wait-ms", env = "ORDERLY_DB_FAILOVER_WAIT_MS",
          default_value = "3000", value_name = "MS", value_parser = millis, global = true)]
    pub failover_wait: Duration,

    /// How long opening a connection (TCP, start-up, authentication) may take, in milliseconds.
    #[arg(long = "db-connect-timeout-ms", env = "ORDERLY_DB_CONNECT_TIMEOUT_MS",
          default_value = "3000", value_name = "MS", value_parser = positive_millis, global = true)]
    pub connect_timeout: Duration,

    /// Prepare each statement once per connection (`true`), or run every
    /// statement unnamed with its types given (`false`): what a
    /// transaction-mode pooler (PgBouncer `pool_mode = transaction`,
    /// Supabase, Heroku) needs, at some CPU cost on the server.
    #[arg(long = "pg-prepared-statements", env = "ORDERLY_PG_PREPARED_STATEMENTS",
          default_value_t = true, value_name = "true|false", action = clap::ArgAction::Set, global = true)]
    pub prepared_statements: bool,
}

/// Hot standbys that serve reads (PostgreSQL only).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Read replicas (PostgreSQL)")]
pub struct ReplicaSettings {
    /// PostgreSQL hot standby to serve reads from (repeatable; the
    /// environment takes a comma-separated list). GETs go to a replica that
    /// is up, in recovery, within `--replica-max-lag-ms`, and has replayed
    /// the caller's own last write; otherwise to the primary.
    #[arg(
        long = "read-replica-url",
        value_name = "URL",
        env = "ORDERLY_READ_REPLICA_URLS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub urls: Vec<String>,

    /// Serve reads from every host of `DATABASE_URL` found in recovery (the
    /// standbys of a Patroni cluster, say), under the same rules as
    /// `--read-replica-url`; which hosts those are is checked continually,
    /// so a failover moves reads with no restart.
    #[arg(long = "read-from-standbys", env = "ORDERLY_READ_FROM_STANDBYS",
          default_value_t = false, value_name = "true|false", num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub read_from_standbys: bool,

    /// How far behind the primary a replica may be and still serve reads, in milliseconds.
    #[arg(long = "replica-max-lag-ms", env = "ORDERLY_REPLICA_MAX_LAG_MS",
          default_value = "1000", value_name = "MS", value_parser = positive_millis)]
    pub max_lag: Duration,

    /// Redis that keeps each caller's last write position for every
    /// instance (`redis://host:port/db`), so that a caller reads its own
    /// writes through any instance behind a load balancer, not only
    /// through the one that took the write. Without it, per instance.
    #[arg(
        long = "session-store",
        value_name = "URL",
        env = "ORDERLY_SESSION_STORE",
        hide_env_values = true
    )]
    pub session_store: Option<String>,

    /// How long a request waits for the session store before it reads
    /// from the primary instead (or, after a write, goes on without
    /// storing its position), in milliseconds.
    #[arg(long = "session-store-timeout-ms", env = "ORDERLY_SESSION_STORE_TIMEOUT_MS",
          default_value = "100", value_name = "MS", value_parser = positive_millis)]
    pub session_store_timeout: Duration,
}

impl ReplicaSettings {
    /// No replicas: what the commands other than serving use.
    pub fn none() -> Self {
        Self {
            urls: Vec::new(),
            read_from_standbys: false,
            max_lag: Duration::from_secs(1),
            session_store: None,
            session_store_timeout: Duration::from_millis(100),
        }
    }

    /// The replicas' URLs, each checked to be a PostgreSQL URL; replicas
    /// need a PostgreSQL primary (`database`).
    pub fn urls_for(&self, database: &DatabaseTarget) -> anyhow::Result<Vec<String>> {
        let urls: Vec<String> = self
            .urls
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        if urls.is_empty() && !self.read_from_standbys {
            return Ok(urls);
        }
        if !matches!(database, DatabaseTarget::Postgres(_)) {
            bail!("read replicas (--read-replica-url, --read-from-standbys) need a PostgreSQL DATABASE_URL; SQLite has no replicas");
        }
        for (n, url) in urls.iter().enumerate() {
            if !matches!(DatabaseTarget::parse(url), Ok(DatabaseTarget::Postgres(_))) {
                bail!("read replica {} is not a postgres:// URL", n + 1);
            }
        }
        Ok(urls)
    }
}

/// Where the data lives, parsed from `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Postgres(String),
    Sqlite(PathBuf),
}

impl std::fmt::Debug for DatabaseTarget {
    // A PostgreSQL URL may carry a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Postgres(_) => f.write_str("Postgres(..)"),
            Self::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
        }
    }
}

impl DatabaseTarget {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("DATABASE_URL `sqlite://` needs a file path, as in sqlite://orderly.db");
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        bail!("DATABASE_URL must start with postgres:// or sqlite://, as in sqlite://orderly.db")
    }
}
