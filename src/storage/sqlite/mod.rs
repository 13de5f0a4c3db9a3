//! The SQLite backend (the embedded default), on sqlx.
//!
//! SQLite lets one writer in at a time. Writes go through a pool of exactly
//! one connection, so within the process they queue instead of failing with
//! `database is locked`; WAL mode lets readers run beside it, and a busy
//! timeout makes writers from other processes (a test's own pool, say) wait
//! their turn. Foreign keys are switched on for every connection.

use std::{path::Path, time::Duration};

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};

use super::{migrations::Migration, Precondition, Store, StoreError, StoreResult};
use crate::config::Settings;
use crate::domain::{NewUser, PageRequest, User, UserPatch};

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "users_and_orders",
    sql: include_str!("migrations/0001_users_and_orders.sql"),
}];

/// How long a writer waits for another process's write lock before 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
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
}

impl SqliteStore {
    pub async fn open(path: &Path, settings: &Settings) -> anyhow::Result<Self> {
        let options = connect_options(path);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.pool_timeout())
            .connect_with(options.clone())
            .await
            .with_context(|| format!("could not open the SQLite database {}", path.display()))?;
        migrate(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.pool_size)
            .acquire_timeout(settings.pool_timeout())
            .connect_with(options.read_only(true))
            .await
            .with_context(|| format!("could not open the SQLite database {}", path.display()))?;
        Ok(Self { reader, writer })
    }
}

/// Applies pending migrations in one `BEGIN IMMEDIATE` transaction, so two
/// processes starting at once apply them one after the other.
pub async fn migrate(pool: &SqlitePool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await.context("could not reach SQLite")?;
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let result = apply_pending(&mut conn).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    sqlx::raw_sql(end).execute(&mut *conn).await?;
    result
}

async fn apply_pending(conn: &mut sqlx::SqliteConnection) -> anyhow::Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)))",
    )
    .execute(&mut *conn)
    .await?;
    for m in MIGRATIONS {
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
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES (?, ?)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *conn)
            .await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    // Only checks the connection is sane after the DDL; cheap.
    conn.ping().await?;
    Ok(())
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn user_from_row(row: &SqliteRow) -> User {
    User {
        id: row.get(0),
        email: row.get(1),
        name: row.get(2),
        created_at: from_micros(row.get(3)),
        updated_at: from_micros(row.get(4)),
    }
}

/// Maps a driver error to a storage error; see the PostgreSQL twin for why
/// each constraint kind has one meaning here.
fn db_error(e: sqlx::Error) -> StoreError {
    use sqlx::error::ErrorKind;
    match &e {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => StoreError::EmailTaken,
            ErrorKind::ForeignKeyViolation => StoreError::UserHasOrders,
            // SQLITE_BUSY / SQLITE_LOCKED after the busy timeout.
            _ if matches!(db.code().as_deref(), Some("5" | "6" | "517" | "262")) => {
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
    async fn create_user(&self, new: &NewUser) -> StoreResult<User> {
        let now = micros(Utc::now());
        let row = sqlx::query(
            "INSERT INTO users (email, name, created_at, updated_at) VALUES (?, ?, ?, ?)
             RETURNING id, email, name, created_at, updated_at",
        )
        .bind(new.email.as_str())
        .bind(new.name.as_str())
        .bind(now)
        .bind(now)
        .fetch_one(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(user_from_row(&row))
    }

    async fn get_user(&self, id: i64) -> StoreResult<User> {
        sqlx::query("SELECT id, email, name, created_at, updated_at FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_error)?
            .map(|row| user_from_row(&row))
            .ok_or(StoreError::NotFound)
    }

    async fn update_user(
        &self,
        id: i64,
        patch: &UserPatch,
        precondition: &Precondition,
    ) -> StoreResult<User> {
        // One statement, as on PostgreSQL: the versions travel as a JSON array.
        let versions = match precondition {
            Precondition::None => None,
            Precondition::AnyOf(vs) => Some(
                serde_json::to_string(&vs.iter().map(|v| v.0).collect::<Vec<_>>())
                    .map_err(anyhow::Error::from)?,
            ),
        };
        let row = sqlx::query(
            "UPDATE users SET email = COALESCE(?2, email), name = COALESCE(?3, name),
                 updated_at = max(?4, updated_at + 1)
             WHERE id = ?1 AND (?5 IS NULL OR updated_at IN (SELECT value FROM json_each(?5)))
             RETURNING id, email, name, created_at, updated_at",
        )
        .bind(id)
        .bind(patch.email.as_ref().map(|e| e.as_str()))
        .bind(patch.name.as_ref().map(|n| n.as_str()))
        .bind(micros(Utc::now()))
        .bind(versions)
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?;
        match row {
            Some(row) => Ok(user_from_row(&row)),
            None => Err(super::stale_or_missing(self.get_user(id).await)),
        }
    }

    async fn delete_user(&self, id: i64) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db_error)?;
        match done.rows_affected() {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn list_users(&self, page: &PageRequest, email: Option<&str>) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, email, name, created_at, updated_at FROM users
             WHERE id > ?1 AND (?3 IS NULL OR lower(email) = lower(?3))
             ORDER BY id LIMIT ?2",
        )
        .bind(page.after_id())
        .bind(page.fetch_len())
        .bind(email)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
