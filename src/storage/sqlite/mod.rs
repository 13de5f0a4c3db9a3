//! The SQLite backend (the embedded default), on sqlx.
//!
//! SQLite lets one writer in at a time. Writes go through a pool of exactly
//! one connection, so within the process they queue instead of failing with
//! `database is locked`; WAL mode lets readers run beside it, and a busy
//! timeout makes writers from other processes (a test's own pool, say) wait
//! their turn. Foreign keys are switched on for every connection.
//! Timestamps are integer microseconds since the Unix epoch.
//! Each resource's trait is implemented in its own file.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection};

use super::migrations::Migration;
use super::transaction::Backend;
use super::{ConnectionStats, Counted, Health, StoreError, StoreResult, Tx, READY_PROBE_LIMIT};
use crate::config::Settings;

mod api_keys;
mod errors;
mod idempotency_keys;
mod orders;
mod users;

use errors::db_error;

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

/// Most reader connections. Reads are CPU-bound and short, so a few
/// readers keep every core busy, and each connection holds its own page
/// cache (about 2 MiB): sixteen of them cost 20 MiB of memory for no speed.
const MAX_READERS: u32 = 4;

/// How long a writer waits for another process's write lock before 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A write transaction: `BEGIN IMMEDIATE` on the single writer connection.
pub type SqliteTx = sqlx::Transaction<'static, sqlx::Sqlite>;

pub struct SqliteStore {
    reader: Pool,
    writer: Pool,
}

/// A pool that also counts the requests waiting for its connections,
/// which sqlx does not tell.
struct Pool {
    name: &'static str,
    pool: SqlitePool,
    waiting: AtomicUsize,
}

impl Pool {
    fn new(name: &'static str, pool: SqlitePool) -> Self {
        Self {
            name,
            pool,
            waiting: AtomicUsize::new(0),
        }
    }

    /// A connection of this pool, waiting at most the pool timeout.
    async fn acquire(&self) -> StoreResult<PoolConnection<Sqlite>> {
        let _waiting = Counted::enter(&self.waiting);
        self.pool.acquire().await.map_err(db_error)
    }

    fn stats(&self) -> ConnectionStats {
        let open = self.pool.size() as usize;
        let idle = self.pool.num_idle().min(open);
        ConnectionStats {
            pool: self.name,
            max: self.pool.options().get_max_connections() as usize,
            in_use: open - idle,
            idle,
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }
}

/// Connection options every orderly connection to `path` uses; the tests'
/// own pool uses them too, so it sees the same rules.
pub fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // In WAL mode NORMAL loses no committed transaction when the process
        // crashes; only a power cut can take the last few.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
        // 1 MiB of page cache per connection instead of 2: the operating
        // system caches the file as well, and five connections' caches were
        // a good part of the service's memory.
        .pragma("cache_size", "-1024")
}

impl SqliteStore {
    pub async fn open(path: &Path, settings: &Settings) -> anyhow::Result<Self> {
        let options = connect_options(path);
        let cannot_open = || format!("could not open the SQLite database {}", path.display());
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.pool_timeout())
            .connect_with(options.clone())
            .await
            .with_context(cannot_open)?;
        migrate(&writer, MIGRATIONS).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.pool_size.min(MAX_READERS))
            .acquire_timeout(settings.pool_timeout())
            .connect_with(options.read_only(true))
            .await
            .with_context(cannot_open)?;
        Ok(Self {
            reader: Pool::new("sqlite_readers", reader),
            writer: Pool::new("sqlite_writer", writer),
        })
    }

    /// A write transaction that takes the write lock up front, so it never
    /// has to upgrade (and fail) halfway.
    async fn begin_write(&self) -> StoreResult<SqliteTx> {
        // Waiting for the writer connection and for the write lock alike.
        let _waiting = Counted::enter(&self.writer.waiting);
        self.writer
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)
    }
}

/// This backend's side of a transaction the application layer holds.
fn sqlite_tx(tx: &mut Tx) -> &mut SqliteConnection {
    match &mut *tx.0 {
        Backend::Sqlite(tx) => tx,
        Backend::Postgres(_) => unreachable!("a SQLite store only gets its own transactions"),
    }
}

/// How a transaction ends.
pub(super) enum End {
    Commit,
    Rollback,
}

pub(super) async fn end(tx: SqliteTx, how: End) -> StoreResult<()> {
    match how {
        End::Commit => tx.commit().await,
        End::Rollback => tx.rollback().await,
    }
    .map_err(db_error)
}

/// Applies pending `migrations` in one `BEGIN IMMEDIATE` transaction, so
/// two processes starting at once apply them one after the other.
///
/// Foreign keys are off while they run, as SQLite's procedure for changing
/// a table's definition (create the new table, copy, drop, rename) needs,
/// and every foreign key is checked before the commit instead.
pub async fn migrate(pool: &SqlitePool, migrations: &[Migration]) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await.context("could not reach SQLite")?;
    // The pragma is a no-op inside a transaction: set it before BEGIN.
    sqlx::raw_sql("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await?;
    let applied = apply(&mut conn, migrations).await;
    let restored = sqlx::raw_sql("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await;
    if restored.is_err() {
        // Never hand a connection without foreign keys back to the pool.
        conn.detach();
    }
    applied?;
    restored.context("could not switch foreign keys back on")?;
    Ok(())
}

async fn apply(conn: &mut SqliteConnection, migrations: &[Migration]) -> anyhow::Result<()> {
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let result = apply_in_transaction(conn, migrations).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    sqlx::raw_sql(end)
        .execute(&mut *conn)
        .await
        .context("could not end the migration transaction")?;
    result
}

async fn apply_in_transaction(
    conn: &mut SqliteConnection,
    migrations: &[Migration],
) -> anyhow::Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)))",
    )
    .execute(&mut *conn)
    .await?;
    let mut applied_now = 0;
    for m in migrations {
        let applied = sqlx::query("SELECT 1 FROM schema_migrations WHERE version = ?")
            .bind(m.version)
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
        if applied {
            continue;
        }
        sqlx::raw_sql(m.sql)
            .execute(&mut *conn)
            .await
            .with_context(|| format!("migration {} ({}) failed", m.version, m.name))?;
        applied_now += 1;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES (?, ?)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *conn)
            .await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    if applied_now == 0 {
        return Ok(());
    }
    // A full scan: only when a migration ran with the keys off.
    let broken = sqlx::raw_sql("PRAGMA foreign_key_check")
        .fetch_all(&mut *conn)
        .await?;
    anyhow::ensure!(
        broken.is_empty(),
        "the migrations leave {} row(s) breaking a foreign key",
        broken.len()
    );
    Ok(())
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

#[async_trait]
impl Health for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        let probe = async {
            sqlx::query("SELECT 1")
                .execute(&mut *self.reader.acquire().await?)
                .await
                .map_err(db_error)
        };
        tokio::time::timeout(READY_PROBE_LIMIT, probe)
            .await
            .map_err(|_| StoreError::Unavailable("no reader connection in time".into()))?
            .map(drop)
    }

    fn connections(&self) -> Vec<ConnectionStats> {
        vec![self.reader.stats(), self.writer.stats()]
    }
}
