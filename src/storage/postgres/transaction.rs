//! A transaction on a pooled connection, which the application layer holds
//! across awaits as a `WriteTx` (`unit_of_work`; tokio-postgres's own
//! `Transaction` borrows its client, so it cannot be handed up and back).
//!
//! Every path ends the transaction before the connection goes back to the
//! pool: `commit`, `rollback`, or, when the request was cancelled midway,
//! `Drop`, which rolls back in the background and discards the connection
//! if that fails. Every statement is bounded in time; a connection that
//! overstays it is abandoned, never reused.

use std::time::Duration;

use super::param::Param;
use tokio_postgres::Row;

use super::connection::Statements;
use super::pool::Pooled;
use crate::storage::{LogPosition, StoreResult};

/// How long a background rollback may take before its connection is
/// discarded instead (closing it rolls back on the server too).
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PgTx {
    /// `None` once the transaction has ended.
    conn: Option<Pooled>,
    /// How long one statement may take.
    limit: Duration,
    /// Read the WAL position after the commit: replicas serve reads.
    notes_position: bool,
}

impl PgTx {
    pub async fn begin(conn: Pooled, limit: Duration, notes_position: bool) -> StoreResult<Self> {
        // Owned before BEGIN is sent: if this future is dropped after the
        // server has begun, `Drop` still rolls back.
        let tx = Self {
            conn: Some(conn),
            limit,
            notes_position,
        };
        tx.conn().begin(limit).await?;
        Ok(tx)
    }

    fn conn(&self) -> &Pooled {
        self.conn
            .as_ref()
            .expect("a transaction is open until it ends")
    }

    /// Commits; with `notes_position`, where the primary's log stands after
    /// it. Fails (503) when PostgreSQL kept the commit without the
    /// synchronous standby's confirmation: on the primary, but not
    /// acknowledged. A failed end leaves the connection to `Drop`.
    pub async fn commit(mut self) -> StoreResult<Option<LogPosition>> {
        let at = self.conn().commit(self.limit, self.notes_position).await?;
        self.conn = None;
        Ok(at)
    }

    /// Rolls back now, releasing the transaction's locks.
    pub async fn rollback(mut self) -> StoreResult<()> {
        self.conn().execute(self.limit, "ROLLBACK").await?;
        self.conn = None;
        Ok(())
    }
}

impl Statements for PgTx {
    async fn query(&self, sql: &'static str, params: &[&dyn Param]) -> StoreResult<Vec<Row>> {
        self.conn().query(self.limit, sql, params).await
    }
}

impl Drop for PgTx {
    /// Not ended (the request was cancelled midway, or ending it failed):
    /// roll back before the connection goes back to the pool, so that no
    /// other request runs inside this transaction; if that fails or hangs,
    /// the connection leaves the pool and closing it rolls back instead.
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if !conn.is_usable() {
            // Closing it is the rollback; the server sees it when the
            // network lets it.
            drop(Pooled::take(conn));
            return;
        }
        tokio::spawn(async move {
            if conn.execute(ROLLBACK_TIMEOUT, "ROLLBACK").await.is_err() {
                drop(Pooled::take(conn));
            }
        });
    }
}
