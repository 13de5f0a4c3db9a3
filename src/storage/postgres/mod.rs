//! The PostgreSQL backend (production), on tokio-postgres.
//!
//! Every request without an idempotency key is a single statement (an order
//! and its items too, in one statement with data-modifying CTEs), run on a
//! few shared, pipelined connections (`shared`). Requests with a key need a
//! transaction across statements and take a connection from a
//! deadpool-postgres pool, which also runs migrations and the key purge.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use tokio_postgres::{error::SqlState, NoTls};

use super::{
    migrations::Migration, Created, Idempotent, OrderFilter, Precondition, Store, StoreError,
    StoreResult,
};
use crate::config::{Faults, Settings};
use crate::domain::{NewOrder, NewUser, Order, OrderStatus, PageRequest, User, UserPatch, Version};

mod keys;
mod orders;
mod shared;
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

/// Any constant will do; it only has to be the same in every instance so that
/// two services starting at once apply migrations one after the other.
const MIGRATION_LOCK: i64 = 0x006f_7264_6572_6c79;

pub struct PgStore {
    pool: Pool,
    /// Shared connections for reads: few, since reads gain most from
    /// pipelining many queries on one backend.
    readers: shared::Shared,
    /// Shared connections for writes: more, since each commit waits for its
    /// WAL flush and PostgreSQL flushes the commits of many backends at once.
    writers: shared::Shared,
    faults: Faults,
}

impl PgStore {
    pub async fn open(url: &str, settings: &Settings) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        config.application_name("orderly");
        config.connect_timeout(settings.pool_timeout());
        let readers = shared::Shared::new(
            config.clone(),
            settings.pg_read_connections as usize,
            settings.pool_timeout(),
        );
        let writers = shared::Shared::new(
            config.clone(),
            settings.pg_write_connections as usize,
            settings.pool_timeout(),
        );
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
        Ok(Self {
            pool,
            readers,
            writers,
            faults: settings.faults,
        })
    }

    /// A pooled connection of its own, for a transaction.
    async fn conn(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Timeout(_) => StoreError::Unavailable("no free connection in time".into()),
            other => StoreError::Unavailable(other.to_string()),
        })
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

/// Maps a driver error to a storage error by SQLSTATE and constraint name.
/// The one foreign key (`orders.user_id`) is broken by deleting a user who
/// has orders; creating an order maps it to `UnknownUser` itself.
pub(super) fn db_error(e: tokio_postgres::Error) -> StoreError {
    let constraint = e.as_db_error().and_then(|db| db.constraint());
    match e.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => match constraint {
            Some("users_email_lower_key") => StoreError::EmailTaken,
            Some("idempotency_keys_pkey") => StoreError::KeyInFlight,
            _ => other(e),
        },
        Some(code) if *code == SqlState::FOREIGN_KEY_VIOLATION => StoreError::UserHasOrders,
        Some(code) if code.code().starts_with("08") || code.code().starts_with("57P") => {
            StoreError::Unavailable(e.to_string())
        }
        None if e.is_closed() => StoreError::Unavailable(e.to_string()),
        _ => other(e),
    }
}

fn other(e: tokio_postgres::Error) -> StoreError {
    StoreError::Other(anyhow::Error::new(e).context("PostgreSQL query failed"))
}

#[async_trait]
impl Store for PgStore {
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
        self.readers.query("SELECT 1", &[]).await.map(drop)
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
