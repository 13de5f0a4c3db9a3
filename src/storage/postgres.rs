//! The PostgreSQL backend (production), on tokio-postgres.
//!
//! Every write without an idempotency key is a single statement (an order
//! and its items too, in one statement with data-modifying CTEs), run on a
//! few shared, pipelined connections (`shared`); reads run on shared
//! connections of their own, or on a replica's (`routing`, `replicas`).
//! Work that needs a transaction across statements (a unit of work) takes
//! a pooled connection (`pool`, `transaction`). Every connection is opened
//! the same way (`connect`) and runs statements the same way
//! (`connection`, `driver`). Each resource's trait is implemented in its
//! own file.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{DatabaseSettings, PostgresSettings, ReplicaSettings};
use crate::storage::{Retry, StoreError};

mod adopt;
mod api_keys;
mod connect;
mod connection;
mod driver;
mod errors;
mod events;
mod health;
mod idempotency_keys;
mod ids;
mod migrations;
mod orders;
mod outcome;
mod param;
mod pool;
mod replicas;
mod routing;
mod shared;
mod tls;
mod transaction;
mod unit_of_work;
mod url;
mod users;
mod webhooks;

pub use adopt::adopt;
pub use migrations::{migrate, MIGRATIONS};
pub use replicas::CHECK_EVERY as REPLICA_CHECK_EVERY;

use connect::{Limits, Target};
use shared::Shared;

pub struct PgStore {
    /// Shared connections for reads: few, since reads gain most from
    /// pipelining many queries on one backend.
    readers: Shared,
    /// Shared connections for writes: more, since each commit waits for its
    /// WAL flush and PostgreSQL flushes the commits of many backends at once.
    /// Also what the replica checks sample the primary's position on.
    writers: Arc<Shared>,
    /// Connections of their own, for transactions and purges.
    pool: pool::Pool,
    limits: Limits,
    /// How long a request waits for a server while none takes its
    /// statements (`storage::retry`, `routing`).
    retry: Retry,
    /// Hot standbys that serve reads (none unless configured).
    replicas: Arc<replicas::Replicas>,
    /// The replicas' checks, stopped with the store.
    _checks: Option<replicas::Checks>,
}

impl PgStore {
    /// How long a request may wait for a server, whichever layer tries
    /// again: the application layer's units of work share it.
    pub fn retry(&self) -> Retry {
        self.retry
    }

    /// Connects to the primary at `url`, applies pending migrations, and
    /// sets up the replicas at `replica_urls` (and, with
    /// `--read-from-standbys`, every host of `url`), which serve reads
    /// while in recovery and no more than the lag bound behind.
    pub async fn open(
        url: &str,
        database: &DatabaseSettings,
        postgres: &PostgresSettings,
        replica_urls: &[String],
        replica_settings: &ReplicaSettings,
    ) -> anyhow::Result<Self> {
        let primary = Target::parse(url, "DATABASE_URL", postgres)?;
        let readers = Shared::new(
            "pg_readers",
            primary.clone(),
            postgres.read_connections as usize,
        );
        let writers = Shared::new(
            "pg_writers",
            primary.clone(),
            postgres.write_connections as usize,
        );
        let standbys = match replica_settings.read_from_standbys {
            true => primary.each_host(),
            false => Vec::new(),
        };
        let replicas = Arc::new(open_replicas(
            replica_urls,
            standbys,
            postgres,
            replica_settings.max_lag,
        )?);
        let limits = primary.limits;
        let failover_expected = primary.lists_several_hosts();
        let pool = pool::build(primary, database)?;
        let mut conn = pool::get(&pool).await.map_err(|e| match e {
            // Each host and why, already: said once.
            StoreError::Unavailable(why) => anyhow::Error::new(why),
            other => anyhow::Error::new(other).context("could not connect to PostgreSQL"),
        })?;
        migrate(conn.client_mut(), MIGRATIONS).await?;
        if failover_expected {
            warn_unless_synchronous(conn.client_mut()).await;
        }
        say_how_unconfirmed_commits_are_told(&conn, limits.statement).await;
        drop(conn);
        let writers = Arc::new(writers);
        let checks = replicas.spawn_checks(writers.clone());
        Ok(Self {
            readers,
            writers,
            pool,
            limits,
            retry: Retry::new(postgres.failover_wait, limits.statement),
            replicas,
            _checks: checks,
        })
    }
}

/// The configured read replicas and the hosts of `DATABASE_URL` that may
/// be standbys, each with shared connections of its own, under the
/// primary's time limits. Which of them serve is checked continually
/// (`replicas`): a host that is not in recovery serves no reads.
fn open_replicas(
    urls: &[String],
    standbys: Vec<Target>,
    postgres: &PostgresSettings,
    max_lag: Duration,
) -> anyhow::Result<replicas::Replicas> {
    let mut members = Vec::new();
    let explicit = urls
        .iter()
        .enumerate()
        .map(|(n, url)| Target::parse(url, &format!("read replica {}", n + 1), postgres));
    let targets = explicit.chain(standbys.into_iter().map(Ok));
    for (n, target) in targets.enumerate() {
        let target = target?;
        let name = target
            .host_and_port()
            .unwrap_or_else(|| format!("replica{}", n + 1));
        // Named once per replica for the life of the process.
        let pool: &'static str = Box::leak(format!("pg_replica:{name}").into_boxed_str());
        let conn = Shared::new(pool, target, postgres.read_connections as usize);
        tracing::info!(replica = %name, "reads may go to this server while it is a standby");
        members.push(replicas::Replica::new(name, conn));
    }
    Ok(replicas::Replicas::new(members, max_lag))
}

/// A failover loses nothing acknowledged only if every commit waits for a
/// synchronous standby: say so at start-up when the primary does not.
async fn warn_unless_synchronous(client: &tokio_postgres::Client) {
    let sql = "SELECT current_setting('synchronous_standby_names'), current_setting('synchronous_commit')";
    let Ok(Some(row)) = client
        .query_typed(sql, &[])
        .await
        .map(|rows| rows.into_iter().next())
    else {
        return;
    };
    let (standbys, commit): (String, String) = (row.get(0), row.get(1));
    if standbys.trim().is_empty() || matches!(commit.as_str(), "off" | "local") {
        tracing::warn!(
            synchronous_standby_names = %standbys,
            synchronous_commit = %commit,
            "DATABASE_URL names several hosts, but the primary acknowledges commits before any standby has them: a failover may lose acknowledged writes"
        );
    }
}

/// Says once, at start-up, how a commit that the synchronous standby did
/// not confirm is told on this server (`outcome`): by the routine its
/// warnings name, in any language; else by their English words; else
/// strictly (every WARNING during a statement counts); or not at all, if
/// no warning reaches orderly. Probed with a `ROLLBACK` outside a
/// transaction, whose warning (25P01) every server sends.
async fn say_how_unconfirmed_commits_are_told(conn: &pool::Pooled, limit: Duration) {
    let lc_messages = conn.watch().lc_messages();
    // Its outcome does not matter: what the driver noted of its warning does.
    let _ = conn.execute(limit, "ROLLBACK").await;
    match conn.watch().names_routines() {
        None => tracing::error!(
            %lc_messages,
            "PostgreSQL sent no WARNING to a probe that always draws one (a pooler or proxy that drops them?): a commit its synchronous standby did not confirm cannot be recognised, and may be acknowledged"
        ),
        Some(true) => tracing::info!(
            %lc_messages,
            "PostgreSQL names the routine of its warnings: a commit its synchronous standby did not confirm is recognised whatever the server's language"
        ),
        _ if outcome::Language::of_lc_messages(lc_messages) == outcome::Language::English => {
            tracing::warn!(
                %lc_messages,
                "PostgreSQL does not name the routine of its warnings: a commit its synchronous standby did not confirm is recognised by the English words of its warning"
            )
        }
        _ => tracing::warn!(
            %lc_messages,
            "PostgreSQL does not name the routine of its warnings and its messages are not in English: every WARNING while a statement runs is taken for a commit its synchronous standby did not confirm (answered 503)"
        ),
    }
}
