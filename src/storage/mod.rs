//! Storage: one narrow trait per resource, implemented by a PostgreSQL and a
//! SQLite backend, so that both share every use case and handler.
//!
//! Storage knows rows, statements and transactions. It turns driver errors
//! into [`StoreError`] (naming the constraint a write broke), and knows
//! nothing of HTTP or of the rules that span several calls: those live in
//! the application layer (`crate::app`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::{DatabaseTarget, Settings};

pub mod api_keys;
pub mod error;
pub mod idempotency_keys;
pub mod migrations;
pub mod orders;
pub mod postgres;
pub mod session;
pub mod sqlite;
pub mod transaction;
pub mod users;

pub use api_keys::ApiKeyStore;
pub use error::{Constraint, StoreError, StoreResult};
pub use idempotency_keys::{Claim, IdempotencyStore, StoredKey};
pub use orders::{OrderFilter, OrderStore};
pub use transaction::Tx;
pub use users::UserStore;

/// How long a readiness probe (`Health::ping`) waits for the database,
/// on either backend.
pub const READY_PROBE_LIMIT: Duration = Duration::from_secs(2);

/// Whether the database answers, and how its connections are used.
#[async_trait]
pub trait Health: Send + Sync {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;

    /// One entry per pool or set of shared connections, read now.
    fn connections(&self) -> Vec<ConnectionStats>;

    /// Checks the read replicas once (is each up, in recovery, how far
    /// behind); `false` when there are none to check.
    async fn check_replicas(&self) -> bool {
        false
    }

    /// Where reads went, and how each replica stands.
    fn reads(&self) -> ReadStats {
        ReadStats::default()
    }
}

/// Reads served so far by the primary and by each replica.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadStats {
    /// Reads the primary served (PostgreSQL only).
    pub primary: u64,
    pub replicas: Vec<ReplicaStats>,
}

/// One read replica, at its last check.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaStats {
    /// `host:port`.
    pub name: String,
    pub reads: u64,
    /// Up and in recovery at the last check.
    pub usable: bool,
    /// How far behind the primary it was; `None` when not known.
    pub lag: Option<Duration>,
}

/// How one pool (or set of shared connections) is used at this moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionStats {
    /// `pg_readers`, `pg_writers`, `pg_transactions`, `sqlite_readers`, `sqlite_writer`.
    pub pool: &'static str,
    /// Most connections it opens.
    pub max: usize,
    /// Open connections with work on them (a shared one: a statement in flight).
    pub in_use: usize,
    /// Open connections with nothing to do.
    pub idle: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

/// Counts one thing in progress (a request waiting, a statement in flight)
/// until dropped, cancelled requests included.
pub(crate) struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    pub(crate) fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One backend, seen through each of its traits.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub orders: Arc<dyn OrderStore>,
    pub idempotency_keys: Arc<dyn IdempotencyStore>,
    pub api_keys: Arc<dyn ApiKeyStore>,
    pub health: Arc<dyn Health>,
}

impl Stores {
    fn of<B>(backend: B) -> Self
    where
        B: UserStore + OrderStore + IdempotencyStore + ApiKeyStore + Health + 'static,
    {
        let backend = Arc::new(backend);
        Self {
            users: backend.clone(),
            orders: backend.clone(),
            idempotency_keys: backend.clone(),
            api_keys: backend.clone(),
            health: backend,
        }
    }
}

/// Opens the configured database and applies pending migrations.
pub async fn open(settings: &Settings) -> anyhow::Result<Stores> {
    Ok(match settings.database()? {
        DatabaseTarget::Postgres(url) => Stores::of(postgres::PgStore::open(&url, settings).await?),
        DatabaseTarget::Sqlite(path) => {
            Stores::of(sqlite::SqliteStore::open(&path, settings).await?)
        }
    })
}
