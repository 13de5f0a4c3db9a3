//! Connecting to PostgreSQL: what every orderly connection gets on top of
//! its URL (a name, time limits on both sides, TCP keepalives), and opening
//! one, its whole handshake bounded. How a connection is secured or shaped
//! for a pooler in front of the server belongs here too.

use std::time::Duration;

use anyhow::Context;
use tokio_postgres::{Client, Config, Connection, NoTls, Socket};

use crate::config::PostgresSettings;
use crate::storage::{StoreError, StoreResult};

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
/// orderly's settings on top, and the limits every statement runs under.
#[derive(Clone)]
pub struct Target {
    pub config: Config,
    pub limits: Limits,
}

impl Target {
    /// `url` (`what` names it in errors, never printing it: it may hold a
    /// password) with the settings of `postgres`.
    pub fn parse(url: &str, what: &str, postgres: &PostgresSettings) -> anyhow::Result<Self> {
        let mut config: Config = url
            .parse()
            .with_context(|| format!("{what} is not a valid PostgreSQL URL"))?;
        let limits = Limits {
            connect: postgres.connect_timeout,
            statement: postgres.query_timeout + GRACE,
        };
        configure(&mut config, &limits, postgres.query_timeout);
        Ok(Self { config, limits })
    }

    /// Opens a connection, the whole handshake within the connect limit: a
    /// server that accepts but never answers must not hold the caller.
    pub async fn connect(&self) -> StoreResult<(Client, Connection<Socket, NoTlsStreamOf>)> {
        match tokio::time::timeout(self.limits.connect, self.config.connect(NoTls)).await {
            Ok(Ok(connected)) => Ok(connected),
            Ok(Err(e)) => Err(StoreError::Unavailable(with_causes(&e))),
            Err(_) => Err(StoreError::Unavailable(
                "connecting to PostgreSQL timed out".into(),
            )),
        }
    }

    /// `host:port` of the first host, for naming a server in logs and
    /// metrics (never the URL).
    pub fn host_and_port(&self) -> Option<String> {
        use tokio_postgres::config::Host;
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        match self.config.get_hosts().first()? {
            Host::Tcp(host) => Some(format!("{host}:{port}")),
            #[cfg(unix)]
            Host::Unix(path) => Some(format!("{}:{port}", path.display())),
        }
    }

    /// Whether the URL lists several hosts: the operator means to fail
    /// over to a standby.
    pub fn lists_several_hosts(&self) -> bool {
        self.config.get_hosts().len() > 1
    }
}

/// `e` and what caused it, as one line: tokio-postgres says "error
/// connecting to server" and keeps why (refused, unknown host) in its
/// source.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.ends_with(&text) {
            line = format!("{line}: {text}");
        }
        cause = c.source();
    }
    line
}

/// The stream of a connection without TLS.
pub type NoTlsStreamOf = tokio_postgres::tls::NoTlsStream;

/// Connection settings every orderly connection gets, over what the URL
/// says: a name in `pg_stat_activity` (unless the URL gives one), time
/// limits on the client side, and on the server side `statement_timeout`
/// (a slow statement is cancelled, its connection kept) and
/// `idle_in_transaction_session_timeout` (a transaction whose client
/// vanished releases its locks).
fn configure(config: &mut Config, limits: &Limits, query_timeout: Duration) {
    if config.get_application_name().is_none() {
        config.application_name("orderly");
    }
    config
        .connect_timeout(limits.connect)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES)
        .tcp_user_timeout(TCP_USER_TIMEOUT);
    let server_limits = format!(
        "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
        query_timeout.as_millis(),
        (limits.statement * 4).as_millis()
    );
    let options = match config.get_options() {
        Some(given) if !given.trim().is_empty() => format!("{given} {server_limits}"),
        _ => server_limits,
    };
    config.options(options);
}
