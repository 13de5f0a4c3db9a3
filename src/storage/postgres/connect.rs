//! Connecting to PostgreSQL: what every orderly connection gets on top of
//! its URL (a name, time limits on both sides, TCP keepalives, TLS as the
//! URL's libpq parameters say: `tls`), and opening one, host by host, each
//! handshake bounded, each failure named by its host and port.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_postgres::config::{LoadBalanceHosts, TargetSessionAttrs};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Connection, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::{self, SslMode, Tls};
use super::url;
use crate::config::PostgresSettings;
use crate::storage::{NotRun, StoreError, StoreResult, Unsettled};

/// Time limits on every connection to PostgreSQL.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// For a new connection: TCP connect, start-up and authentication.
    pub connect: Duration,
    /// For one statement's answer, measured by orderly. A statement the
    /// server is merely slow on is cancelled by the server first (its
    /// `statement_timeout` is one `GRACE` shorter), which keeps the
    /// connection; past this limit, the connection is presumed lost.
    pub statement: Duration,
}

/// How much longer orderly waits than the server's own statement timeout.
const GRACE: Duration = Duration::from_secs(1);

/// TCP keepalives and the kernel's limit on unacknowledged data: a peer
/// that vanished without a reset is noticed within about 30 seconds even
/// on an idle connection, and a connection orderly gave up on is freed.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach one server (the primary, or a replica): its parsed URL with
/// orderly's settings on top, how it is secured, and the limits every
/// statement runs under.
#[derive(Clone)]
pub struct Target {
    /// Each host of the URL, tried in order (shuffled with
    /// `load_balance_hosts=random`) and named on its own when it fails.
    hosts: Vec<Host>,
    shuffle: bool,
    tls: Tls,
    pub limits: Limits,
    /// Whether statements are prepared once per connection (the default)
    /// or run unnamed (behind a transaction pooler). Shared by every
    /// connection to this target: once one finds a prepared statement
    /// gone (a pooler in front), all of them send theirs unnamed.
    pub prepares_statements: Arc<AtomicBool>,
    /// Sent on every new connection: the server's own time limits.
    session: String,
    /// What begins a transaction: `BEGIN` and the same limits, local to it.
    pub begin: Arc<str>,
}

#[derive(Clone)]
struct Host {
    /// `host:port`, for errors and logs (never the URL).
    name: String,
    config: Config,
}

/// The TLS stream of a connection (rustls), or clear text.
pub type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;

impl Target {
    /// `url` (`what` names it in errors, never printing it: it may hold a
    /// password) with the settings of `postgres`.
    pub fn parse(url: &str, what: &str, postgres: &PostgresSettings) -> anyhow::Result<Self> {
        let split =
            url::split(url).with_context(|| format!("{what} is not a valid PostgreSQL URL"))?;
        let tls = Tls::from_params(&split.own).with_context(|| format!("{what}: TLS settings"))?;
        let limits = Limits {
            connect: postgres.connect_timeout,
            statement: postgres.query_timeout + GRACE,
        };
        let parse = |url: &str| -> anyhow::Result<Config> {
            let mut config: Config = url
                .parse()
                .with_context(|| format!("{what} is not a valid PostgreSQL URL"))?;
            configure(&mut config, &limits, tls.mode);
            Ok(config)
        };
        let server_limits = ServerLimits::new(postgres.query_timeout, limits.statement);
        let whole = parse(&split.rest)?;
        let hosts = match url::per_host(&split.rest) {
            Some(urls) => urls
                .iter()
                .map(|url| parse(url).map(Host::named))
                .collect::<anyhow::Result<_>>()?,
            None => vec![Host::named(whole.clone())],
        };
        Ok(Self {
            hosts,
            shuffle: whole.get_load_balance_hosts() == LoadBalanceHosts::Random,
            tls,
            limits,
            prepares_statements: Arc::new(AtomicBool::new(postgres.prepared_statements)),
            session: session_limits(&server_limits),
            begin: transaction_limits(&server_limits).into(),
        })
    }

    /// Opens a connection to the first host that takes it (and whose
    /// state matches `target_session_attrs`), each handshake bounded by
    /// the connect limit: a server that accepts but never answers must not
    /// hold the caller. Fails naming every host tried and why.
    pub async fn connect(&self) -> StoreResult<(Client, Connection<Socket, Stream>)> {
        let mut order: Vec<&Host> = self.hosts.iter().collect();
        if self.shuffle {
            shuffle(&mut order);
        }
        let mut failures = Vec::new();
        for host in order {
            match self.connect_to(host).await {
                Ok(connected) => return Ok(connected),
                Err(why) => failures.push(format!("{}: {why}", host.name)),
            }
        }
        Err(StoreError::unavailable(
            Unsettled::NotRun(NotRun::NoServer),
            format!("could not connect to PostgreSQL: {}", failures.join("; ")),
        ))
    }

    async fn connect_to(
        &self,
        host: &Host,
    ) -> Result<(Client, Connection<Socket, Stream>), String> {
        let mut why = String::new();
        for (n, mode) in self.tls.mode.attempts().iter().enumerate() {
            let mut fallback;
            let config = match n {
                0 => &host.config,
                _ => {
                    fallback = host.config.clone();
                    fallback.ssl_mode(*mode);
                    &fallback
                }
            };
            let connecting = config.connect(self.tls.connector.clone());
            match tokio::time::timeout(self.limits.connect, connecting).await {
                Ok(Ok(connected)) => return Ok(connected),
                Ok(Err(e)) => why = describe(&e),
                Err(_) => why = format!("no answer within {:?}", self.limits.connect),
            }
        }
        Err(why)
    }

    /// The statements every new connection runs first: its settings,
    /// then a row with the server's `lc_messages`.
    pub fn session_settings(&self) -> &str {
        &self.session
    }

    /// `host:port` of the first host, for naming a server in logs and
    /// metrics (never the URL).
    pub fn host_and_port(&self) -> Option<String> {
        self.hosts.first().map(|h| h.name.clone())
    }

    /// One target per host of this one, each connecting to its host
    /// whatever the host's role (`target_session_attrs` dropped): the
    /// hosts that `--read-from-standbys` asks, at every check, whether
    /// they are in recovery.
    pub fn each_host(&self) -> Vec<Target> {
        self.hosts
            .iter()
            .map(|host| {
                let mut host = host.clone();
                host.config.target_session_attrs(TargetSessionAttrs::Any);
                Target {
                    hosts: vec![host],
                    shuffle: false,
                    ..self.clone()
                }
            })
            .collect()
    }

    /// Whether the URL lists several hosts: the operator means to fail
    /// over to a standby.
    pub fn lists_several_hosts(&self) -> bool {
        self.hosts.len() > 1 || self.hosts.iter().any(|h| h.config.get_hosts().len() > 1)
    }
}

impl Host {
    fn named(config: Config) -> Self {
        use tokio_postgres::config::Host as H;
        let ports = config.get_ports();
        let name = config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(n, host)| {
                let port = ports.get(n).or(ports.first()).copied().unwrap_or(5432);
                match host {
                    H::Tcp(host) => format!("{host}:{port}"),
                    #[cfg(unix)]
                    H::Unix(path) => format!("{}:{port}", path.display()),
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        Self { name, config }
    }
}

/// A cheap shuffle for `load_balance_hosts=random`: spreading instances
/// over hosts needs no strong randomness.
fn shuffle<T>(items: &mut [T]) {
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos() as usize | 1);
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, seed % (i + 1));
    }
}

/// Why a connection failed, once and in an operator's words: the TLS
/// failure, the server's own refusal, or the network's (refused, unknown
/// host), without tokio-postgres' "error connecting to server" wrapping.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(tls) = tls::describe_failure(e) {
        return tls;
    }
    if let Some(db) = e.as_db_error() {
        return format!("the server refused: {}", db.message());
    }
    let mut deepest: &dyn std::error::Error = e;
    while let Some(cause) = deepest.source() {
        deepest = cause;
    }
    deepest.to_string()
}

/// Connection settings every orderly connection gets, over what the URL
/// says: a name in `pg_stat_activity` (unless the URL gives one), time
/// limits on the client side, TCP keepalives, and the TLS mode's first
/// attempt.
fn configure(config: &mut Config, limits: &Limits, mode: SslMode) {
    if config.get_application_name().is_none() {
        config.application_name("orderly");
    }
    config
        .connect_timeout(limits.connect)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES)
        .tcp_user_timeout(TCP_USER_TIMEOUT)
        .ssl_mode(mode.attempts()[0]);
}

/// The server's own time limits for orderly's sessions:
/// `statement_timeout` (a slow statement is cancelled, its connection
/// kept) and `idle_in_transaction_session_timeout` (a transaction whose
/// client vanished releases its locks).
struct ServerLimits {
    statement_ms: u128,
    idle_in_transaction_ms: u128,
}

impl ServerLimits {
    fn new(query_timeout: Duration, statement: Duration) -> Self {
        Self {
            statement_ms: query_timeout.as_millis(),
            idle_in_transaction_ms: (statement * 4).as_millis(),
        }
    }
}

/// The limits for a whole session, set with `SET` once connected rather
/// than with the `options` start-up parameter, which PgBouncer refuses;
/// WARNINGs sent to the client whatever the role says (the one that says a
/// commit's wait for the synchronous standby was cut short is how orderly
/// learns it: `outcome`); then the language of the server's messages
/// (`outcome::Language`), in the same round trip.
fn session_limits(limits: &ServerLimits) -> String {
    format!(
        "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {}; \
         SET client_min_messages = warning; SELECT current_setting('lc_messages')",
        limits.statement_ms, limits.idle_in_transaction_ms
    )
}

/// `BEGIN` with the same limits local to the transaction: behind a
/// transaction pooler, a session's `SET` stays on whichever server
/// connection it went to, so every transaction carries its own. Sent as
/// one simple query: no round trip more than a bare `BEGIN`.
fn transaction_limits(limits: &ServerLimits) -> String {
    format!(
        "BEGIN; SET LOCAL statement_timeout = {}; SET LOCAL idle_in_transaction_session_timeout = {}; \
         SET LOCAL client_min_messages = warning",
        limits.statement_ms, limits.idle_in_transaction_ms
    )
}
