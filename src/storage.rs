//! Storage: one narrow trait per resource, implemented by a PostgreSQL and a
//! SQLite backend, so that both share every use case and handler.
//!
//! Storage knows rows, statements and transactions. It turns driver errors
//! into [`StoreError`] (naming the constraint a write broke), serves each
//! read where its caller allows ([`ReadFrom`]), and knows nothing of HTTP or
//! of the rules that span several calls: those live in the application
//! layer (`crate::app`), which holds a unit of work ([`Tx`]) across the
//! calls that must commit together.

use std::sync::Arc;

use crate::config::{DatabaseSettings, DatabaseTarget, PostgresSettings, ReplicaSettings};

pub mod api_keys;
pub mod consistency;
pub mod error;
pub mod events;
pub mod health;
pub mod idempotency_keys;
pub mod migrations;
pub mod orders;
pub mod postgres;
pub mod retry;
pub mod session_store;
pub mod sqlite;
pub mod transaction;
pub mod users;
pub mod webhooks;

pub use api_keys::{ActiveKeys, ApiKeyStore};
pub use consistency::{LogPosition, ReadFrom, Written};
pub use error::{Constraint, NotRun, StoreError, StoreResult, Unavailable, Unsettled};
pub use events::EventStore;
pub use health::{ConnectionStats, Health, ReadStats, ReplicaStats, READY_PROBE_LIMIT};
pub use idempotency_keys::{Claim, IdempotencyStore, StoredKey};
pub use orders::{OrderFilter, OrderStore};
pub use retry::Retry;
pub use session_store::{SessionStore, SessionStoreFailures};
pub use transaction::{Tx, WriteTx};
pub use users::UserStore;
pub use webhooks::WebhookStore;

/// One backend, seen through each of its traits.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub orders: Arc<dyn OrderStore>,
    pub idempotency_keys: Arc<dyn IdempotencyStore>,
    pub api_keys: Arc<dyn ApiKeyStore>,
    pub health: Arc<dyn Health>,
    pub events: Arc<dyn EventStore>,
    pub webhooks: Arc<dyn WebhookStore>,
    /// Where callers' write positions are kept for every instance: only
    /// where replicas serve reads and `--session-store` names one.
    pub session_store: Option<Arc<dyn SessionStore>>,
    /// How long a request may wait for a server while none takes its
    /// statements (a failover), whichever layer tries again.
    pub retry: Retry,
}

impl Stores {
    fn of<B>(backend: B, retry: Retry) -> Self
    where
        B: UserStore
            + OrderStore
            + IdempotencyStore
            + ApiKeyStore
            + Health
            + EventStore
            + WebhookStore
            + 'static,
    {
        let backend = Arc::new(backend);
        Self {
            users: backend.clone(),
            orders: backend.clone(),
            idempotency_keys: backend.clone(),
            api_keys: backend.clone(),
            events: backend.clone(),
            webhooks: backend.clone(),
            health: backend,
            session_store: None,
            retry,
        }
    }
}

/// Opens the configured database and applies pending migrations. Each
/// backend gets its own groups of settings: SQLite only the pool's.
pub async fn open(
    database: &DatabaseSettings,
    postgres: &PostgresSettings,
    replicas: &ReplicaSettings,
) -> anyhow::Result<Stores> {
    let target = database.target()?;
    let replica_urls = replicas.urls_for(&target)?;
    let session_store = session_store(
        replicas,
        !replica_urls.is_empty() || replicas.read_from_standbys,
    )?;
    let mut stores = match target {
        DatabaseTarget::Postgres(url) => {
            let store =
                postgres::PgStore::open(&url, database, postgres, &replica_urls, replicas).await?;
            let retry = store.retry();
            Stores::of(store, retry)
        }
        DatabaseTarget::Sqlite(path) => Stores::of(
            sqlite::SqliteStore::open(&path, database).await?,
            Retry::none(),
        ),
    };
    stores.session_store = session_store;
    Ok(stores)
}

/// The session store, where one is named and replicas serve reads (with
/// every read on the primary, there is no position to share).
fn session_store(
    replicas: &ReplicaSettings,
    replicas_serve: bool,
) -> anyhow::Result<Option<Arc<dyn SessionStore>>> {
    let Some(url) = replicas
        .session_store
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(None);
    };
    let store = session_store::RedisSessionStore::new(
        url,
        replicas.session_store_timeout,
        replicas.max_lag,
    )?;
    if !replicas_serve {
        tracing::warn!("--session-store is set, but no replica serves reads (--read-replica-url, --read-from-standbys): it is not used");
        return Ok(None);
    }
    store.connect_soon();
    Ok(Some(Arc::new(store)))
}
