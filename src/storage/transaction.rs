//! An open write transaction on either backend. The application layer holds
//! it across storage calls (claim an idempotency key, write the resource,
//! record the response) and commits once, or rolls back; dropping it
//! unended (a cancelled request) rolls back too, in the background.

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
            Backend::Sqlite(tx) => sqlite::end(tx, sqlite::End::Commit).await,
        }
    }

    /// Rolls back now, releasing the transaction's locks before returning.
    pub async fn rollback(self) -> StoreResult<()> {
        match *self.0 {
            Backend::Postgres(tx) => tx.rollback().await,
            Backend::Sqlite(tx) => sqlite::end(tx, sqlite::End::Rollback).await,
        }
    }
}
