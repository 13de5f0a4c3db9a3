//! A transaction on a pooled connection that the caller owns across awaits
//! (tokio-postgres's own `Transaction` borrows its client, so it cannot be
//! handed up to the application layer and back).
//!
//! Every path ends the transaction before the connection goes back to the
//! pool: `commit`, `rollback`, or, when the request was cancelled midway,
//! `Drop`, which rolls back in the background and discards the connection
//! if that fails. Every statement is bounded in time; a connection that
//! overstays it is discarded, never reused.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::errors::db_error;
use super::{not_answering, note_written, WAL_POSITION};
use crate::storage::{StoreError, StoreResult};

/// How long a background rollback may take before its connection is
/// discarded instead (closing it rolls back on the server too).
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PgTx {
    /// `None` once the transaction has ended.
    conn: Option<Object>,
    /// How long one statement may take.
    limit: Duration,
    /// A statement overstayed `limit`: the server is not answering on this
    /// connection, so nothing more is sent on it and it leaves the pool.
    broken: AtomicBool,
    /// Read the WAL position after the commit, for the caller's
    /// read-your-writes (`storage::session`).
    notes_position: bool,
    /// The pool's count of commits kept without the synchronous standby.
    unconfirmed_commits: Arc<AtomicU64>,
}

impl PgTx {
    pub(super) async fn begin(
        conn: Object,
        limit: Duration,
        notes_position: bool,
        unconfirmed_commits: Arc<AtomicU64>,
    ) -> StoreResult<Self> {
        // Owned before BEGIN is sent: if this future is dropped after the
        // server has begun, `Drop` still rolls back.
        let tx = Self {
            conn: Some(conn),
            limit,
            broken: AtomicBool::new(false),
            notes_position,
            unconfirmed_commits,
        };
        tx.bounded(tx.client().batch_execute("BEGIN")).await?;
        Ok(tx)
    }

    /// Runs `work` within the statement limit; past it, the connection is
    /// marked broken.
    async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(not_answering(self.limit));
        }
        match tokio::time::timeout(self.limit, work).await {
            Ok(result) => result.map_err(db_error),
            Err(_) => {
                self.broken.store(true, Ordering::Relaxed);
                Err(not_answering(self.limit))
            }
        }
    }

    fn client(&self) -> &Object {
        self.conn
            .as_ref()
            .expect("a transaction is open until it ends")
    }

    /// Runs one statement (prepared once per connection) that returns a row.
    pub(super) async fn query_one(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Row> {
        self.bounded(async {
            let statement = self.client().prepare_cached(sql).await?;
            self.client().query_one(&statement, params).await
        })
        .await
    }

    /// Runs one statement that returns at most one row.
    pub(super) async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        self.bounded(async {
            let statement = self.client().prepare_cached(sql).await?;
            self.client().query_opt(&statement, params).await
        })
        .await
    }

    /// Runs one statement and returns the number of rows it changed.
    pub(super) async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        self.bounded(async {
            let statement = self.client().prepare_cached(sql).await?;
            self.client().execute(&statement, params).await
        })
        .await
    }

    /// Commits. Fails (503) when PostgreSQL kept the commit without the
    /// synchronous standby's confirmation (`pipelined::drive`): on the
    /// primary, but not acknowledged.
    pub async fn commit(mut self) -> StoreResult<()> {
        let unconfirmed_before = self.unconfirmed_commits.load(Ordering::Relaxed);
        let client = self.client();
        let position = if self.notes_position {
            // The position's query pipelined right behind COMMIT, as on
            // the shared connections: it runs after the commit, with no
            // round trip.
            let position = self
                .bounded(async {
                    let (committed, position) = tokio::join!(
                        client.batch_execute("COMMIT"),
                        client.query_one(WAL_POSITION, &[])
                    );
                    committed.map(|()| position)
                })
                .await?;
            Some(position)
        } else {
            self.bounded(client.batch_execute("COMMIT")).await?;
            None
        };
        self.conn = None;
        if self.unconfirmed_commits.load(Ordering::Relaxed) != unconfirmed_before {
            return Err(StoreError::Unavailable(
                "the commit was not confirmed by the synchronous standby".into(),
            ));
        }
        if let Some(position) = position {
            note_written(position);
        }
        Ok(())
    }

    /// Rolls back now, so the transaction's locks (an idempotency key's
    /// among them) are gone when this returns.
    pub async fn rollback(self) -> StoreResult<()> {
        self.end("ROLLBACK").await
    }

    async fn end(mut self, how: &str) -> StoreResult<()> {
        self.bounded(self.client().batch_execute(how)).await?;
        self.conn = None;
        Ok(())
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
        if self.broken.load(Ordering::Relaxed) {
            // Closing it is the rollback; the server sees it when the
            // network lets it.
            drop(Object::take(conn));
            return;
        }
        tokio::spawn(async move {
            let rollback = conn.batch_execute("ROLLBACK");
            if !matches!(
                tokio::time::timeout(ROLLBACK_TIMEOUT, rollback).await,
                Ok(Ok(()))
            ) {
                drop(Object::take(conn));
            }
        });
    }
}
