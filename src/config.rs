//! Typed configuration from flags and the environment, in groups: the
//! database (with PostgreSQL's own settings), read replicas, HTTP and
//! logging. Each part of the service is handed only its groups (a store
//! never sees the HTTP settings), and every time limit is parsed once, from
//! the milliseconds operators type, into a `Duration`.
//!
//! `orderly migrate`, `keys`, `webhooks` and `backup` take the database,
//! SQLite, PostgreSQL and logging groups only (`webhooks add` also its
//! `--webhooks-allow-private`); the rest applies to serving alone, and
//! their `--help` does not list it. docs/reference/configuration.md is
//! generated from these definitions (`reference.rs` checks it). Defaults run with no setup at all: an embedded SQLite file
//! in the working directory, served on loopback.

use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::domain::{EndpointUrl, EventType, KeyName, Role};

mod database;
mod events;
mod http;

pub use database::{
    DatabaseSettings, DatabaseTarget, PostgresSettings, ReplicaSettings, SqliteSynchronous,
};
pub use events::EventSettings;
pub use http::{BindAddress, HttpSettings};

#[derive(Debug, Parser)]
#[command(name = "orderly", version, about = "A users-and-orders HTTP JSON API")]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: CommonSettings,
    /// Serving's own settings, when no command is named.
    #[command(flatten)]
    serve: ServeSettings,
}

#[derive(Debug, Clone, Subcommand)]
enum Command {
    /// Apply migrations, then serve the API (the default).
    Serve(ServeSettings),
    /// Apply pending migrations and exit.
    Migrate(MigrateArgs),
    /// Create, list and revoke API keys (in the database every instance reads).
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Add, list and remove webhook endpoints (in the database every
    /// instance reads); events are delivered to them, signed per Standard
    /// Webhooks.
    Webhooks {
        #[command(subcommand)]
        action: WebhooksCommand,
    },
    /// Write a consistent copy of the live SQLite database to PATH while
    /// the service keeps serving (restore: stop orderly, delete the
    /// database's -wal and -shm files, copy the backup over the database
    /// file, start orderly).
    Backup(BackupArgs),
}

/// Where `orderly backup` writes.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
pub struct BackupArgs {
    /// The backup file to create; it must not exist yet.
    #[arg(value_name = "PATH")]
    pub path: std::path::PathBuf,
}

/// What the command line asks for, with the settings it needs.
#[derive(Debug, Clone)]
pub enum Task {
    Serve(Box<Settings>),
    Migrate(CommonSettings, MigrateArgs),
    Keys(CommonSettings, KeysCommand),
    Webhooks(CommonSettings, WebhooksCommand),
    Backup(CommonSettings, BackupArgs),
}

impl Cli {
    pub fn task(self) -> Task {
        match self.command {
            None => Task::Serve(Box::new(Settings::of(self.common, self.serve))),
            Some(Command::Serve(serve)) => Task::Serve(Box::new(Settings::of(self.common, serve))),
            Some(Command::Migrate(how)) => Task::Migrate(self.common, how),
            Some(Command::Keys { action }) => Task::Keys(self.common, action),
            Some(Command::Webhooks { action }) => Task::Webhooks(self.common, action),
            Some(Command::Backup(to)) => Task::Backup(self.common, to),
        }
    }

    /// The log format, known before anything else runs.
    pub fn log_format(&self) -> LogFormat {
        self.common.logging.log_format
    }
}

#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum KeysCommand {
    /// Create a key and print it on standard output, this once only.
    Create {
        /// `read` may only GET; `admin` may do everything.
        #[arg(long, value_parser = role_parser())]
        role: Role,
        /// A label for people (at most 100 characters).
        #[arg(long, default_value = "", value_parser = key_name)]
        name: KeyName,
    },
    /// List the keys: id, role, name and times, never the key itself.
    List,
    /// Revoke a key; every instance refuses it within seconds.
    Revoke {
        /// The key's id, as `keys list` shows it.
        id: i64,
    },
    /// Delete the revoked keys. Once any key was created the API stays
    /// closed, even with every key revoked; with no key left after this,
    /// it runs open again where serving allows anonymous access (loopback).
    ForgetRevoked,
}

#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum WebhooksCommand {
    /// Add an endpoint; print its id and its signing secret (`whsec_...`),
    /// shown this once. It receives the events committed from now on.
    Add {
        /// Where to POST each event: an http or https URL.
        #[arg(long = "url", id = "endpoint_url", value_name = "URL", value_parser = endpoint_url)]
        url: EndpointUrl,
        /// Only these event types, comma-separated (every type when left
        /// out): user.created, user.updated, user.deleted, order.created,
        /// order.status_changed.
        #[arg(long, value_name = "TYPE,...", value_delimiter = ',', value_parser = event_type)]
        events: Option<Vec<EventType>>,
        /// Allow a receiver on this machine or a private network (see
        /// `orderly --help`).
        #[arg(
            long = "webhooks-allow-private",
            env = "ORDERLY_WEBHOOKS_ALLOW_PRIVATE"
        )]
        allow_private: bool,
    },
    /// List the endpoints: id, state, failures in a row, events, URL.
    List,
    /// Remove an endpoint and its deliveries.
    Remove {
        /// The endpoint's id, as `webhooks list` shows it.
        id: i64,
    },
}

fn endpoint_url(text: &str) -> Result<EndpointUrl, String> {
    EndpointUrl::parse(text)
}

fn event_type(text: &str) -> Result<EventType, String> {
    EventType::parse(text)
}

/// How `orderly migrate` goes about it.
#[derive(Debug, Clone, Copy, Args, PartialEq, Eq)]
pub struct MigrateArgs {
    /// Take over the users, orders and order_items tables of another
    /// service implementing this API (PostgreSQL only): print the plan,
    /// check the rows against orderly's rules, add only what orderly needs
    /// (safe on a live database), and record the baseline. Never drops or
    /// rewrites the old service's tables or rows.
    #[arg(long)]
    pub adopt: bool,
    /// With --adopt: print the plan and the rows that stop it, and change
    /// nothing.
    #[arg(long, requires = "adopt")]
    pub dry_run: bool,
}

/// Every command's settings: the database, and the log.
#[derive(Debug, Clone, Args)]
pub struct CommonSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub postgres: PostgresSettings,
    #[command(flatten)]
    pub logging: LogSettings,
}

/// Serving's own settings.
#[derive(Debug, Clone, Args)]
struct ServeSettings {
    #[command(flatten)]
    http: HttpSettings,
    #[command(flatten)]
    replicas: ReplicaSettings,
    #[command(flatten)]
    events: EventSettings,
    /// How often stored idempotent responses older than 24 hours are purged, in milliseconds.
    #[arg(long = "key-purge-interval-ms", env = "ORDERLY_KEY_PURGE_INTERVAL_MS",
          default_value = "600000", value_name = "MS", value_parser = positive_millis, help_heading = "Database")]
    key_purge_interval: Duration,
}

/// Everything serving needs, group by group.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub postgres: PostgresSettings,
    pub replicas: ReplicaSettings,
    pub http: HttpSettings,
    pub logging: LogSettings,
    pub events: EventSettings,
    /// How often expired idempotency keys are purged.
    pub key_purge_interval: Duration,
}

impl Settings {
    fn of(common: CommonSettings, serve: ServeSettings) -> Self {
        Self {
            database: common.database,
            postgres: common.postgres,
            replicas: serve.replicas,
            http: serve.http,
            logging: common.logging,
            events: serve.events,
            key_purge_interval: serve.key_purge_interval,
        }
    }

    /// Settings for an app on `database_url`, everything else at its
    /// default, served on a free loopback port. The tests build their
    /// settings this way.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let Task::Serve(mut settings) = Cli::parse_from(["orderly"]).task() else {
            unreachable!("no command means serve")
        };
        settings.database.url = database_url.into();
        settings.http.bind = "127.0.0.1:0".parse().expect("a valid loopback address");
        *settings
    }
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogSettings {
    /// Log line format.
    #[arg(long, env = "ORDERLY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Milliseconds, as operators type them.
pub(crate) fn millis(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("`{text}` is not a whole number of milliseconds"))
}

/// Milliseconds, at least one.
pub(crate) fn positive_millis(text: &str) -> Result<Duration, String> {
    millis(text).and_then(|d| match d.is_zero() {
        true => Err("must be at least 1 millisecond".into()),
        false => Ok(d),
    })
}

/// `read` or `admin`, listed in `--help`.
fn role_parser() -> impl TypedValueParser<Value = Role> {
    PossibleValuesParser::new([Role::Read.as_str(), Role::Admin.as_str()])
        .map(|role| Role::parse(&role).expect("one of the listed roles"))
}

fn key_name(text: &str) -> Result<KeyName, String> {
    KeyName::parse(text)
}

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
