//! Storage: one narrow trait per resource, implemented by a PostgreSQL and a
//! SQLite backend, so that both share every use case and handler.
//!
//! Storage knows rows, statements and transactions. It turns driver errors
//! into [`StoreError`] (naming the constraint a write broke), and knows
//! nothing of HTTP or of the rules that span several calls: those live in
//! the application layer (`crate::app`).

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{DatabaseTarget, Settings};

pub mod error;
pub mod idempotency_keys;
pub mod migrations;
pub mod orders;
pub mod postgres;
pub mod sqlite;
pub mod transaction;
pub mod users;

pub use error::{Constraint, StoreError, StoreResult};
pub use idempotency_keys::{Claim, IdempotencyStore, StoredKey};
pub use orders::{OrderFilter, OrderStore};
pub use transaction::Tx;
pub use users::UserStore;

/// Whether the database answers.
#[async_trait]
pub trait Health: Send + Sync {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;
}

/// One backend, seen through each of its traits.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub orders: Arc<dyn OrderStore>,
    pub idempotency_keys: Arc<dyn IdempotencyStore>,
    pub health: Arc<dyn Health>,
}

impl Stores {
    fn of<B>(backend: B) -> Self
    where
        B: UserStore + OrderStore + IdempotencyStore + Health + 'static,
    {
        let backend = Arc::new(backend);
        Self {
            users: backend.clone(),
            orders: backend.clone(),
            idempotency_keys: backend.clone(),
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
