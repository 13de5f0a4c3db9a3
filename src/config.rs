//! Typed configuration: one struct, filled from flags and the environment.
//!
//! Defaults run with no setup at all: an embedded SQLite file in the working
//! directory, served on loopback.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "orderly", version, about = "A users-and-orders HTTP JSON API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Apply migrations, then serve the API (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Create, list and revoke API keys (in the database every instance reads).
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
}

#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum KeysCommand {
    /// Create a key and print it on standard output, this once only.
    Create {
        /// `read` may only GET; `admin` may do everything.
        #[arg(long, value_parser = ["read", "admin"])]
        role: String,
        /// A label for people (at most 100 characters).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List the keys: id, role, name and times, never the key itself.
    List,
    /// Revoke a key; every instance refuses it within seconds.
    Revoke {
        /// The key's id, as `keys list` shows it.
        id: i64,
    },
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// `postgres://...` or `sqlite://PATH` (relative or absolute; created if missing).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://orderly.db",
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// PostgreSQL hot standby to serve reads from (repeatable; the
    /// environment takes a comma-separated list). GETs go to a replica that
    /// is up, in recovery, within `--replica-max-lag-ms`, and has replayed
    /// the caller's own last write; otherwise to the primary.
    #[arg(
        long = "read-replica-url",
        env = "ORDERLY_READ_REPLICA_URLS",
        value_delimiter = ',',
        hide_env_values = true,
        global = true
    )]
    pub read_replica_urls: Vec<String>,

    /// How far behind the primary a replica may be and still serve reads, in milliseconds.
    #[arg(long, env = "ORDERLY_REPLICA_MAX_LAG_MS", default_value_t = 1_000, global = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub replica_max_lag_ms: u64,

    /// Address to listen on.
    #[arg(
        long,
        env = "ORDERLY_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// Serve without API keys on an address other than loopback. Without
    /// it, orderly refuses to start there until a key exists.
    #[arg(long, env = "ORDERLY_ALLOW_ANONYMOUS", global = true)]
    pub allow_anonymous: bool,

    /// Most database connections the service keeps open.
    #[arg(long, env = "ORDERLY_POOL_SIZE", default_value_t = 16, global = true,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pool_size: u32,

    /// PostgreSQL connections that all reads share (pipelined); about one per core.
    #[arg(long, env = "ORDERLY_PG_READ_CONNECTIONS", default_value_t = 2, global = true,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub pg_read_connections: u32,

    /// PostgreSQL connections that all single-statement writes share (pipelined).
    #[arg(long, env = "ORDERLY_PG_WRITE_CONNECTIONS", default_value_t = 8, global = true,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub pg_write_connections: u32,

    /// How long a request waits for a free database connection before 503, in milliseconds.
    #[arg(
        long,
        env = "ORDERLY_POOL_TIMEOUT_MS",
        default_value_t = 5_000,
        global = true
    )]
    pub pool_timeout_ms: u64,

    /// PostgreSQL: how long one statement may run, in milliseconds. The
    /// server cancels a statement past it (503); orderly waits one second
    /// more, then drops a connection that does not answer at all (503).
    #[arg(long, env = "ORDERLY_DB_QUERY_TIMEOUT_MS", default_value_t = 5_000, global = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub db_query_timeout_ms: u64,

    /// PostgreSQL: how long opening a connection (TCP, start-up, authentication) may take, in milliseconds.
    #[arg(long, env = "ORDERLY_DB_CONNECT_TIMEOUT_MS", default_value_t = 3_000, global = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub db_connect_timeout_ms: u64,

    /// How long one request may take before the service answers 503, in milliseconds.
    #[arg(
        long,
        env = "ORDERLY_REQUEST_TIMEOUT_MS",
        default_value_t = 30_000,
        global = true
    )]
    pub request_timeout_ms: u64,

    /// After SIGTERM or Ctrl-C: how long requests already accepted may take to finish before the process exits anyway, in milliseconds.
    #[arg(
        long,
        env = "ORDERLY_SHUTDOWN_TIMEOUT_MS",
        default_value_t = 30_000,
        global = true
    )]
    pub shutdown_timeout_ms: u64,

    /// How often stored idempotent responses older than 24 hours are purged, in milliseconds.
    #[arg(long, env = "ORDERLY_KEY_PURGE_INTERVAL_MS", default_value_t = 600_000, global = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub key_purge_interval_ms: u64,

    /// Log line format.
    #[arg(long, env = "ORDERLY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
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

impl Settings {
    /// Settings for an app on `database_url`, everything else at its default.
    /// The tests build their settings this way.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let mut settings = Cli::parse_from(["orderly"]).settings;
        settings.database_url = database_url.into();
        settings.bind = "127.0.0.1:0".parse().expect("a valid loopback address");
        settings
    }

    pub fn database(&self) -> anyhow::Result<DatabaseTarget> {
        DatabaseTarget::parse(&self.database_url).context("bad configuration")
    }

    /// Whether the API may run open while no API key is active: on a
    /// loopback address, or when the operator says so.
    pub fn anonymous_allowed(&self) -> bool {
        self.allow_anonymous || self.bind.ip().is_loopback()
    }

    /// The read replicas' URLs, each checked to be a PostgreSQL URL;
    /// replicas need a PostgreSQL primary.
    pub fn read_replicas(&self) -> anyhow::Result<Vec<String>> {
        let urls: Vec<String> = self
            .read_replica_urls
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        if urls.is_empty() {
            return Ok(urls);
        }
        if !matches!(self.database()?, DatabaseTarget::Postgres(_)) {
            bail!("read replicas need a PostgreSQL DATABASE_URL; SQLite has no replicas");
        }
        for (n, url) in urls.iter().enumerate() {
            if !matches!(DatabaseTarget::parse(url), Ok(DatabaseTarget::Postgres(_))) {
                bail!("read replica {} is not a postgres:// URL", n + 1);
            }
        }
        Ok(urls)
    }

    pub fn replica_max_lag(&self) -> Duration {
        Duration::from_millis(self.replica_max_lag_ms)
    }

    pub fn pool_timeout(&self) -> Duration {
        Duration::from_millis(self.pool_timeout_ms)
    }

    pub fn key_purge_interval(&self) -> Duration {
        Duration::from_millis(self.key_purge_interval_ms)
    }

    pub fn db_query_timeout(&self) -> Duration {
        Duration::from_millis(self.db_query_timeout_ms)
    }

    pub fn db_connect_timeout(&self) -> Duration {
        Duration::from_millis(self.db_connect_timeout_ms)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_keep_relative_and_absolute_paths() {
        assert_eq!(
            DatabaseTarget::parse("sqlite://orderly.db").unwrap(),
            DatabaseTarget::Sqlite("orderly.db".into())
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite:///var/lib/orderly.db").unwrap(),
            DatabaseTarget::Sqlite("/var/lib/orderly.db".into())
        );
    }

    #[test]
    fn unknown_schemes_are_rejected_with_a_sentence() {
        let err = DatabaseTarget::parse("mysql://localhost/db").unwrap_err();
        assert!(
            err.to_string().contains("postgres:// or sqlite://"),
            "{err}"
        );
        assert!(DatabaseTarget::parse("sqlite://").is_err());
    }

    #[test]
    fn postgres_urls_are_not_printed() {
        let target = DatabaseTarget::parse("postgres://u:secret@h/db").unwrap();
        assert!(!format!("{target:?}").contains("secret"));
    }

    #[test]
    fn serve_is_the_default_command_and_migrate_parses() {
        assert_eq!(Cli::parse_from(["orderly"]).command, None);
        assert_eq!(
            Cli::parse_from(["orderly", "migrate"]).command,
            Some(Command::Migrate)
        );
    }

    #[test]
    fn anonymous_access_is_allowed_on_loopback_or_when_asked() {
        let on = |bind: &str, flag: bool| {
            let mut settings = Settings::for_database("sqlite://x.db");
            settings.bind = bind.parse().unwrap();
            settings.allow_anonymous = flag;
            settings.anonymous_allowed()
        };
        assert!(on("127.0.0.1:8080", false));
        assert!(on("[::1]:8080", false));
        assert!(!on("0.0.0.0:8080", false));
        assert!(!on("192.168.1.5:8080", false));
        assert!(on("0.0.0.0:8080", true));
    }

    #[test]
    fn read_replicas_come_from_repeated_flags_or_a_comma_separated_list() {
        let cli = Cli::parse_from([
            "orderly",
            "--database-url",
            "postgres://p/db",
            "--read-replica-url",
            "postgres://r1/db",
            "--read-replica-url",
            "postgres://r2/db,postgres://r3/db",
        ]);
        assert_eq!(
            cli.settings.read_replicas().unwrap(),
            ["postgres://r1/db", "postgres://r2/db", "postgres://r3/db"]
        );
        let mut settings = Settings::for_database("sqlite://x.db");
        assert!(settings.read_replicas().unwrap().is_empty());
        settings.read_replica_urls = vec!["postgres://r1/db".into()];
        let err = settings.read_replicas().unwrap_err().to_string();
        assert!(err.contains("need a PostgreSQL"), "{err}");
        settings.database_url = "postgres://p/db".into();
        settings.read_replica_urls = vec!["mysql://r1/db".into()];
        let err = settings.read_replicas().unwrap_err().to_string();
        assert!(err.contains("replica 1 is not a postgres"), "{err}");
    }

    #[test]
    fn keys_commands_parse() {
        let cli = Cli::parse_from([
            "orderly", "keys", "create", "--role", "read", "--name", "ci",
        ]);
        assert_eq!(
            cli.command,
            Some(Command::Keys {
                action: KeysCommand::Create {
                    role: "read".into(),
                    name: "ci".into()
                }
            })
        );
        assert!(Cli::try_parse_from(["orderly", "keys", "create", "--role", "root"]).is_err());
        assert!(Cli::try_parse_from(["orderly", "keys", "revoke", "x"]).is_err());
    }
}
