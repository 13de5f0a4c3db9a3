//! The PostgreSQL backend (production), on tokio-postgres.
//!
//! Every write without an idempotency key is a single statement (an order
//! and its items too, in one statement with data-modifying CTEs), run on a
//! few shared, pipelined connections (`pipelined`). Work that needs a
//! transaction across statements (an idempotent create) takes a connection
//! from a deadpool-postgres pool, which also runs migrations and purges.
//! Each resource's trait is implemented in its own file.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use tokio::task::JoinHandle;
use tokio_postgres::types::{PgLsn, ToSql};
use tokio_postgres::{NoTls, Row};

use super::migrations::Migration;
use super::transaction::Backend;
use super::{
    session, ConnectionStats, Health, ReadStats, StoreError, StoreResult, Tx, READY_PROBE_LIMIT,
};
use crate::config::Settings;

mod api_keys;
mod errors;
mod idempotency_keys;
mod orders;
mod pipelined;
mod replicas;
mod transaction;
mod users;

pub use replicas::CHECK_EVERY as REPLICA_CHECK_EVERY;
pub use transaction::PgTx;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "users_and_orders",
        sql: include_str!("migrations/0001_users_and_orders.sql"),
    },
    Migration {
        version: 2,
        name: "idempotency_keys",
        sql: include_str!("migrations/0002_idempotency_keys.sql"),
    },
    Migration {
        version: 3,
        name: "named_constraints_immediate_order_user",
        sql: include_str!("migrations/0003_named_constraints_immediate_order_user.sql"),
    },
    Migration {
        version: 4,
        name: "api_keys",
        sql: include_str!("migrations/0004_api_keys.sql"),
    },
];

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

/// The primary's WAL position, read right after a write has committed: a
/// replica that has replayed this far has that write. The insert position,
/// not the written or flushed one: it covers the commit even where
/// `synchronous_commit` is off.
const WAL_POSITION: &str = "SELECT pg_current_wal_insert_lsn()";

/// Raises the current caller's floor to the position read after its write.
fn note_written(position: Result<Row, tokio_postgres::Error>) {
    match position.and_then(|row| row.try_get::<_, PgLsn>(0)) {
        Ok(position) => session::wrote(position.into()),
        // The write stands; only this caller's next reads are less sure.
        Err(e) => tracing::warn!(
            error = %e,
            "could not read the WAL position after a write; the caller's next reads may miss it"
        ),
    }
}

/// The error for a statement past its limit.
fn not_answering(limit: Duration) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL did not answer within {limit:?}"))
}

pub struct PgStore {
    pool: Pool,
    limits: Limits,
    /// Shared connections for reads: few, since reads gain most from
    /// pipelining many queries on one backend.
    readers: pipelined::Pipelined,
    /// Shared connections for writes: more, since each commit waits for its
    /// WAL flush and PostgreSQL flushes the commits of many backends at once.
    writers: pipelined::Pipelined,
    /// Hot standbys that serve reads (none unless configured).
    replicas: replicas::Replicas,
    /// Commits on the pool's connections that PostgreSQL kept without the
    /// synchronous standby (`pipelined::drive`), counted over the pool.
    unconfirmed_commits: Arc<AtomicU64>,
}

/// Opens the pool's connections as tokio-postgres does, but drives each
/// with `pipelined::drive`, which counts commits kept without the
/// synchronous standby.
struct WatchedConnect {
    unconfirmed_commits: Arc<AtomicU64>,
}

impl deadpool_postgres::Connect for WatchedConnect {
    fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> Pin<
        Box<
            dyn Future<
                    Output = Result<
                        (tokio_postgres::Client, JoinHandle<()>),
                        tokio_postgres::Error,
                    >,
                > + Send
                + '_,
        >,
    > {
        let config = config.clone();
        let unconfirmed_commits = self.unconfirmed_commits.clone();
        Box::pin(async move {
            let (client, connection) = config.connect(NoTls).await?;
            let driver = tokio::spawn(pipelined::drive(connection, unconfirmed_commits));
            Ok((client, driver))
        })
    }
}

impl PgStore {
    pub async fn open(url: &str, settings: &Settings) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        // Several hosts: the operator means to fail over to a standby.
        let failover_expected = config.get_hosts().len() > 1;
        let query_timeout = settings.db_query_timeout();
        let limits = Limits {
            connect: settings.db_connect_timeout(),
            statement: query_timeout + GRACE,
        };
        configure(&mut config, &limits, query_timeout);
        let readers = pipelined::Pipelined::new(
            "pg_readers",
            config.clone(),
            settings.pg_read_connections as usize,
            limits,
        );
        let writers = pipelined::Pipelined::new(
            "pg_writers",
            config.clone(),
            settings.pg_write_connections as usize,
            limits,
        );
        let replicas = open_replicas(settings, limits, query_timeout)?;
        let unconfirmed_commits = Arc::new(AtomicU64::new(0));
        let manager = Manager::from_connect(
            config,
            WatchedConnect {
                unconfirmed_commits: unconfirmed_commits.clone(),
            },
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size as usize)
            .wait_timeout(Some(settings.pool_timeout()))
            .create_timeout(Some(limits.connect))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .context("could not build the PostgreSQL pool")?;
        let mut client = pool
            .get()
            .await
            .context("could not connect to PostgreSQL")?;
        migrate(&mut client, MIGRATIONS).await?;
        if failover_expected {
            warn_unless_synchronous(&client).await;
        }
        Ok(Self {
            pool,
            limits,
            readers,
            writers,
            replicas,
            unconfirmed_commits,
        })
    }

    /// A pooled connection of its own.
    async fn conn(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Timeout(_) => StoreError::Unavailable("no free connection in time".into()),
            other => StoreError::Unavailable(other.to_string()),
        })
    }

    /// A transaction on a pooled connection of its own.
    async fn begin(&self) -> StoreResult<PgTx> {
        let tracks = self.tracks_writes();
        let watch = self.unconfirmed_commits.clone();
        PgTx::begin(self.conn().await?, self.limits.statement, tracks, watch).await
    }

    /// Whether this request's writes must note their WAL position: only
    /// when replicas may serve its caller's later reads.
    fn tracks_writes(&self) -> bool {
        !self.replicas.is_empty() && session::tracking()
    }

    /// Runs one write statement on the shared connections; its rows.
    async fn write(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        if !self.tracks_writes() {
            return self.writers.query(sql, params).await;
        }
        let (rows, position) = self.writers.query_then_position(sql, params).await?;
        note_written(position);
        Ok(rows)
    }

    /// Runs one read statement: on a replica if one may serve this
    /// request (`replicas`), else, or if it fails there, on the primary.
    async fn read(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let replica = session::replica_floor().and_then(|floor| self.replicas.pick(floor));
        if let Some(replica) = replica {
            match replica.conn.query(sql, params).await {
                Ok(rows) => {
                    replica.served();
                    return Ok(rows);
                }
                Err(e) => replica.failed(&e),
            }
        }
        self.replicas.primary_served();
        self.readers.query(sql, params).await
    }

    /// Runs one read statement that returns at most one row.
    async fn read_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        Ok(self.read(sql, params).await?.into_iter().next())
    }
}

/// The configured read replicas, each with shared connections of its own,
/// under the primary's time limits.
fn open_replicas(
    settings: &Settings,
    limits: Limits,
    query_timeout: Duration,
) -> anyhow::Result<replicas::Replicas> {
    let mut members = Vec::new();
    for (n, url) in settings.read_replicas()?.iter().enumerate() {
        let mut config: tokio_postgres::Config = url
            .parse()
            .with_context(|| format!("read replica {} is not a valid PostgreSQL URL", n + 1))?;
        configure(&mut config, &limits, query_timeout);
        let name = replicas::name_of(&config, n);
        // Named once per replica for the life of the process.
        let pool: &'static str = Box::leak(format!("pg_replica:{name}").into_boxed_str());
        let conn =
            pipelined::Pipelined::new(pool, config, settings.pg_read_connections as usize, limits);
        tracing::info!(replica = %name, "reads may go to this replica");
        members.push(replicas::Replica::new(name, conn));
    }
    Ok(replicas::Replicas::new(members, settings.replica_max_lag()))
}

/// A failover loses nothing acknowledged only if every commit waits for a
/// synchronous standby: say so at start-up when the primary does not.
async fn warn_unless_synchronous(client: &tokio_postgres::Client) {
    let sql = "SELECT current_setting('synchronous_standby_names'), current_setting('synchronous_commit')";
    let Ok(row) = client.query_one(sql, &[]).await else {
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

/// Connection settings every orderly connection gets, over what the URL
/// says: a name in `pg_stat_activity` (unless the URL gives one), time
/// limits on the client side, and on the server side `statement_timeout`
/// (a slow statement is cancelled, its connection kept) and
/// `idle_in_transaction_session_timeout` (a transaction whose client
/// vanished releases its locks).
fn configure(config: &mut tokio_postgres::Config, limits: &Limits, query_timeout: Duration) {
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

/// The one row a statement returns (an `INSERT ... RETURNING`).
fn only_row(rows: Vec<Row>) -> StoreResult<Row> {
    rows.into_iter()
        .next()
        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("a statement returned no row")))
}

/// This backend's side of a transaction the application layer holds.
fn pg_tx(tx: &mut Tx) -> &mut PgTx {
    match &mut *tx.0 {
        Backend::Postgres(tx) => tx,
        Backend::Sqlite(_) => unreachable!("a PostgreSQL store only gets its own transactions"),
    }
}

/// Applies pending `migrations` in one transaction, under an advisory lock
/// so that instances starting at once apply them one after the other. The
/// lock is named after the schema the migrations go into: deployments in
/// other schemas of the same database do not wait for each other.
pub async fn migrate(
    client: &mut tokio_postgres::Client,
    migrations: &[Migration],
) -> anyhow::Result<()> {
    let tx = client
        .transaction()
        .await
        .context("could not start the migration")?;
    // No per-statement limit here: the lock waits for another instance's
    // migrations, and a migration may rewrite a large table.
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('orderly migrations ' || current_schema(), 0))",
        &[],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    bigint PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    for m in migrations {
        let applied = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&m.version],
            )
            .await?
            .is_some();
        if applied {
            continue;
        }
        tx.batch_execute(m.sql)
            .await
            .with_context(|| format!("migration {} ({}) failed", m.version, m.name))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    tx.commit().await.context("could not commit the migrations")
}

#[async_trait]
impl Health for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        self.readers.ping(READY_PROBE_LIMIT).await
    }

    async fn check_replicas(&self) -> bool {
        if self.replicas.is_empty() {
            return false;
        }
        self.replicas.check(&self.writers).await;
        true
    }

    fn reads(&self) -> ReadStats {
        self.replicas.stats()
    }

    fn connections(&self) -> Vec<ConnectionStats> {
        let pool = self.pool.status();
        let in_use = pool.size.saturating_sub(pool.available);
        let replicas = self.replicas.members().iter().map(|r| r.conn.stats());
        let mut all = vec![
            self.readers.stats(),
            self.writers.stats(),
            ConnectionStats {
                pool: "pg_transactions",
                max: pool.max_size,
                in_use,
                idle: pool.available,
                waiting: pool.waiting,
            },
        ];
        all.extend(replicas);
        all
    }
}
