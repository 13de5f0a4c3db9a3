//! The SQLite backend (the embedded default), on sqlx.
//!
//! SQLite lets one writer in at a time. Writes go through a pool of exactly
//! one connection, so within the process they queue instead of failing with
//! `database is locked`; WAL mode lets readers run beside it, and a busy
//! timeout makes writers from other processes (a test's own pool, say) wait
//! their turn. Foreign keys are switched on for every connection.
//! Timestamps are integer microseconds since the Unix epoch.

use std::{path::Path, time::Duration};

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{
    migrations::Migration, Created, Idempotent, OrderFilter, Precondition, Store, StoreError,
    StoreResult,
};
use crate::config::{Faults, Settings};
use crate::domain::{NewOrder, NewUser, Order, OrderStatus, PageRequest, User, UserPatch, Version};

mod keys;
mod orders;
mod users;

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
];

/// Most reader connections. Reads are CPU-bound and short, so a few
/// readers keep every core busy, and each connection holds its own page
/// cache (about 2 MiB): sixteen of them cost 20 MiB of memory for no speed.
const MAX_READERS: u32 = 4;

/// How long a writer waits for another process's write lock before 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    faults: Faults,
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
        migrate(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.pool_size.min(MAX_READERS))
            .acquire_timeout(settings.pool_timeout())
            .connect_with(options.read_only(true))
            .await
            .with_context(cannot_open)?;
        Ok(Self {
            reader,
            writer,
            faults: settings.faults,
        })
    }

    /// A write transaction that takes the write lock up front, so it never
    /// has to upgrade (and fail) halfway.
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)
    }
}

/// Applies pending migrations in one `BEGIN IMMEDIATE` transaction, so two
/// processes starting at once apply them one after the other.
pub async fn migrate(pool: &SqlitePool) -> anyhow::Result<()> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .context("could not reach SQLite")?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)))",
    )
    .execute(&mut *tx)
    .await?;
    for m in MIGRATIONS {
        let applied = sqlx::query("SELECT 1 FROM schema_migrations WHERE version = ?")
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if applied {
            continue;
        }
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("migration {} ({}) failed", m.version, m.name))?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES (?, ?)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *tx)
            .await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    tx.commit().await.context("could not commit the migrations")
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Maps a driver error to a storage error; see the PostgreSQL twin for why
/// each constraint kind has one meaning here.
fn db_error(e: sqlx::Error) -> StoreError {
    use sqlx::error::ErrorKind;
    match &e {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation if db.message().contains("idempotency_keys") => {
                StoreError::KeyInFlight
            }
            ErrorKind::UniqueViolation => StoreError::EmailTaken,
            ErrorKind::ForeignKeyViolation => StoreError::UserHasOrders,
            // SQLITE_BUSY / SQLITE_LOCKED and their extended codes, after the busy timeout.
            _ if matches!(
                db.code().as_deref(),
                Some("5" | "6" | "517" | "261" | "262")
            ) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Other(anyhow::Error::new(e).context("SQLite query failed")),
        },
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(anyhow::Error::new(e).context("SQLite query failed")),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(
        &self,
        new: &NewUser,
        idempotent: Option<Idempotent<'_, User>>,
    ) -> StoreResult<Created<User>> {
        users::create(self, new, idempotent).await
    }

    async fn get_user(&self, id: i64) -> StoreResult<User> {
        users::get(self, id).await
    }

    async fn update_user(
        &self,
        id: i64,
        patch: &UserPatch,
        precondition: &Precondition,
    ) -> StoreResult<User> {
        users::update(self, id, patch, precondition).await
    }

    async fn delete_user(&self, id: i64) -> StoreResult<()> {
        users::delete(self, id).await
    }

    async fn list_users(&self, page: &PageRequest, email: Option<&str>) -> StoreResult<Vec<User>> {
        users::list(self, page, email).await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn user_exists(&self, id: i64) -> StoreResult<bool> {
        users::exists(self, id).await
    }

    async fn create_order(
        &self,
        new: &NewOrder,
        idempotent: Option<Idempotent<'_, Order>>,
    ) -> StoreResult<Created<Order>> {
        orders::create(self, new, idempotent).await
    }

    async fn get_order(&self, id: i64) -> StoreResult<Order> {
        orders::get(self, id).await
    }

    async fn set_order_status_if_unchanged(
        &self,
        id: i64,
        seen: Version,
        to: OrderStatus,
    ) -> StoreResult<Option<Order>> {
        orders::set_status_if_unchanged(self, id, seen, to).await
    }

    async fn list_orders(
        &self,
        page: &PageRequest,
        filter: &OrderFilter,
    ) -> StoreResult<Vec<Order>> {
        orders::list(self, page, filter).await
    }

    async fn purge_expired_keys(&self) -> StoreResult<u64> {
        keys::purge_expired(self).await
    }
}
