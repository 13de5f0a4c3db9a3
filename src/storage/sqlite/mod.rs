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
use sqlx::Sqlite;

use super::health::Counted;
use super::{
    ConnectionStats, Health, NotRun, StoreError, StoreResult, Unsettled, READY_PROBE_LIMIT,
};
use crate::config::DatabaseSettings;

mod api_keys;
mod errors;
mod idempotency_keys;
mod migrations;
mod orders;
mod transaction;
mod users;

use errors::db_error;
pub use migrations::{migrate, MIGRATIONS};
use transaction::SqliteTx;

/// Most reader connections. Reads are CPU-bound and short, so a few
/// readers keep every core busy, and each connection holds its own page
/// cache (about 2 MiB): sixteen of them cost 20 MiB of memory for no speed.
const MAX_READERS: u32 = 4;

/// How long a writer waits for another process's write lock before 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

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
    pub async fn open(path: &Path, database: &DatabaseSettings) -> anyhow::Result<Self> {
        let options = connect_options(path);
        let cannot_open = || format!("could not open the SQLite database {}", path.display());
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(database.pool_timeout)
            .connect_with(options.clone())
            .await
            .with_context(cannot_open)?;
        migrate(&writer, MIGRATIONS).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(database.pool_size.min(MAX_READERS))
            .acquire_timeout(database.pool_timeout)
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
        let tx = self.writer.pool.begin_with("BEGIN IMMEDIATE").await;
        tx.map(SqliteTx).map_err(db_error)
    }
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
            .map_err(|_| {
                StoreError::unavailable(
                    Unsettled::NotRun(NotRun::Refused),
                    "no reader connection in time",
                )
            })?
            .map(drop)
    }

    fn connections(&self) -> Vec<ConnectionStats> {
        vec![self.reader.stats(), self.writer.stats()]
    }
}
