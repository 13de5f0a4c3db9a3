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

#[derive(Debug, Clone, Copy, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Apply migrations, then serve the API (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
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

    /// Address to listen on.
    #[arg(
        long,
        env = "ORDERLY_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

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
}
