//! An open write transaction on either backend. The application layer holds
//! it across storage calls (claim an idempotency key, write the resource,
//! record the response) and commits once; dropping it uncommitted rolls
//! everything back.

use super::{postgres, sqlite, StoreResult};

/// Boxed: a transaction is handed around by value, and the backends'
/// handles are a few hundred bytes.
pub struct Tx(pub(super) Box<Backend>);

pub(super) enum Backend {
    Postgres(postgres::PgTx),
    Sqlite(sqlite::SqliteTx),
}

impl Tx {
    pub async fn commit(self) -> StoreResult<()> {
        match *self.0 {
            Backend::Postgres(tx) => tx.commit().await,
            Backend::Sqlite(tx) => sqlite::commit(tx).await,
        }
    }
}
