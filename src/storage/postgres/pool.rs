//! The pool of connections that carry transactions (an idempotent create),
//! migrations and purges: deadpool's generic pool over our own
//! [`PgConn`], so a pooled connection is the same kind as a shared one,
//! with the same statement runner and the same watch on its commits.

use std::time::Duration;

use deadpool::managed::{self, Metrics, PoolError, RecycleError, RecycleResult};

use super::connect::Target;
use super::connection::PgConn;
use crate::config::DatabaseSettings;
use crate::storage::{NotRun, StoreError, StoreResult, Unsettled};

pub type Pool = managed::Pool<Manager>;
pub type Pooled = managed::Object<Manager>;

/// How long checking a returned connection may take.
const RECYCLE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Manager {
    target: Target,
}

impl managed::Manager for Manager {
    type Type = PgConn;
    type Error = StoreError;

    async fn create(&self) -> StoreResult<PgConn> {
        PgConn::open(&self.target).await
    }

    /// A connection comes back only while open and trusted: one that
    /// overstayed a statement's limit was abandoned, and is replaced.
    async fn recycle(&self, conn: &mut PgConn, _: &Metrics) -> RecycleResult<StoreError> {
        match conn.is_usable() {
            true => Ok(()),
            false => Err(RecycleError::message("the connection is closed")),
        }
    }
}

pub fn build(target: Target, database: &DatabaseSettings) -> anyhow::Result<Pool> {
    let connect = target.limits.connect;
    managed::Pool::builder(Manager { target })
        .max_size(database.pool_size as usize)
        .wait_timeout(Some(database.pool_timeout))
        .create_timeout(Some(connect))
        .recycle_timeout(Some(RECYCLE_TIMEOUT))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| anyhow::anyhow!("could not build the PostgreSQL pool: {e}"))
}

/// A pooled connection of its own, waiting at most the pool timeout.
pub async fn get(pool: &Pool) -> StoreResult<Pooled> {
    pool.get().await.map_err(|e| match e {
        PoolError::Backend(e) => e,
        PoolError::Timeout(_) => StoreError::unavailable(
            Unsettled::NotRun(NotRun::Refused),
            "no free connection in the pool in time",
        ),
        other => StoreError::unavailable(Unsettled::NotRun(NotRun::Refused), other.to_string()),
    })
}
