//! The PostgreSQL backend (production), on tokio-postgres.
//!
//! Statements are prepared once per connection (`prepare_cached`) and every
//! user operation is a single statement, so no request holds a transaction
//! open across round trips. The pool is deadpool-postgres; the storage
//! interface leaves room to move the hot paths onto pipelined shared
//! connections without any handler noticing.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use tokio_postgres::{error::SqlState, NoTls, Row};

use super::{migrations::Migration, Precondition, Store, StoreError, StoreResult};
use crate::config::Settings;
use crate::domain::{NewUser, PageRequest, User, UserPatch};

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "users_and_orders",
    sql: include_str!("migrations/0001_users_and_orders.sql"),
}];

/// Any constant will do; it only has to be the same in every instance so that
/// two services starting at once apply migrations one after the other.
const MIGRATION_LOCK: i64 = 0x006f_7264_6572_6c79;

const USER_COLUMNS: &str = "id, email, name, created_at, updated_at";

pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    pub async fn open(url: &str, settings: &Settings) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        config.application_name("orderly");
        config.connect_timeout(settings.pool_timeout());
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size as usize)
            .wait_timeout(Some(settings.pool_timeout()))
            .create_timeout(Some(settings.pool_timeout()))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .context("could not build the PostgreSQL pool")?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| anyhow::anyhow!("could not connect to PostgreSQL: {e}"))?;
        migrate(&mut client).await?;
        Ok(Self { pool })
    }

    async fn conn(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Timeout(_) => StoreError::Unavailable("no free connection in time".into()),
            other => StoreError::Unavailable(other.to_string()),
        })
    }

    async fn query_user(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<Option<User>> {
        let conn = self.conn().await?;
        let statement = conn.prepare_cached(sql).await.map_err(db_error)?;
        let row = conn.query_opt(&statement, params).await.map_err(db_error)?;
        Ok(row.map(|r| user_from_row(&r)))
    }
}

/// Applies pending migrations in one transaction under an advisory lock.
pub async fn migrate(client: &mut tokio_postgres::Client) -> anyhow::Result<()> {
    let tx = client
        .transaction()
        .await
        .context("could not start the migration")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    bigint PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    for m in MIGRATIONS {
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

fn user_from_row(row: &Row) -> User {
    User {
        id: row.get(0),
        email: row.get(1),
        name: row.get(2),
        created_at: row.get(3),
        updated_at: row.get(4),
    }
}

/// Maps a driver error to a storage error. Unique violations can only come
/// from the e-mail index and foreign-key violations only from orders
/// pointing at a user, the two constraints a users statement can break.
fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => StoreError::EmailTaken,
        Some(code) if *code == SqlState::FOREIGN_KEY_VIOLATION => StoreError::UserHasOrders,
        Some(code) if code.code().starts_with("08") || code.code().starts_with("57P") => {
            StoreError::Unavailable(e.to_string())
        }
        None if e.is_closed() => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Other(anyhow::Error::new(e).context("PostgreSQL query failed")),
    }
}

#[async_trait]
impl Store for PgStore {
    async fn create_user(&self, new: &NewUser) -> StoreResult<User> {
        let sql =
            format!("INSERT INTO users (email, name) VALUES ($1, $2) RETURNING {USER_COLUMNS}");
        self.query_user(&sql, &[&new.email.as_str(), &new.name.as_str()])
            .await?
            .ok_or_else(|| StoreError::Other(anyhow::anyhow!("INSERT returned no row")))
    }

    async fn get_user(&self, id: i64) -> StoreResult<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        self.query_user(&sql, &[&id])
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn update_user(
        &self,
        id: i64,
        patch: &UserPatch,
        precondition: &Precondition,
    ) -> StoreResult<User> {
        // One statement: the version check and the write cannot be separated
        // by another writer. `updated_at` moves forward even within one
        // microsecond, so every state has its own ETag.
        let sql = format!(
            "UPDATE users SET email = COALESCE($2, email), name = COALESCE($3, name),
                 updated_at = GREATEST(now(), updated_at + interval '1 microsecond')
             WHERE id = $1 AND ($4::timestamptz[] IS NULL OR updated_at = ANY($4))
             RETURNING {USER_COLUMNS}"
        );
        let versions = match precondition {
            Precondition::None => None,
            Precondition::AnyOf(vs) => Some(vs.iter().map(|v| v.timestamp()).collect::<Vec<_>>()),
        };
        let email = patch.email.as_ref().map(|e| e.as_str());
        let name = patch.name.as_ref().map(|n| n.as_str());
        match self
            .query_user(&sql, &[&id, &email, &name, &versions])
            .await?
        {
            Some(user) => Ok(user),
            None => Err(super::stale_or_missing(self.get_user(id).await)),
        }
    }

    async fn delete_user(&self, id: i64) -> StoreResult<()> {
        let conn = self.conn().await?;
        let statement = conn
            .prepare_cached("DELETE FROM users WHERE id = $1")
            .await
            .map_err(db_error)?;
        match conn.execute(&statement, &[&id]).await.map_err(db_error)? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn list_users(&self, page: &PageRequest, email: Option<&str>) -> StoreResult<Vec<User>> {
        let conn = self.conn().await?;
        // Two statements rather than one with `$2 IS NULL OR ...`, so each
        // keeps a plan that uses its index.
        let rows = match email {
            None => {
                let sql =
                    format!("SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2");
                let statement = conn.prepare_cached(&sql).await.map_err(db_error)?;
                conn.query(&statement, &[&page.after_id(), &page.fetch_len()])
                    .await
            }
            Some(email) => {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users
                     WHERE lower(email) = lower($3) AND id > $1 ORDER BY id LIMIT $2"
                );
                let statement = conn.prepare_cached(&sql).await.map_err(db_error)?;
                conn.query(&statement, &[&page.after_id(), &page.fetch_len(), &email])
                    .await
            }
        }
        .map_err(db_error)?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    async fn ping(&self) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.simple_query("SELECT 1").await.map_err(db_error)?;
        Ok(())
    }
}
