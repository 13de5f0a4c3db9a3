//! Where each statement goes, decided here and nowhere else.
//!
//! - **Writes** run on the primary's shared writer connections; where
//!   replicas serve reads, each notes where the primary's log stood right
//!   after it committed ([`Writes`]), which the caller returns as
//!   `Written::at`.
//! - **Reads** go where their use case allows ([`ReadFrom`]):
//!   `ReadFrom::Replica` to a replica that, at its last check, was within
//!   the lag bound and had replayed at least the given position
//!   (`replicas`); failing that, or if the read fails there, to the
//!   primary's shared reader connections, with no error to the caller.
//!   `ReadFrom::Primary` always to the primary.
//! - **While no server takes a statement** (a failover or switchover in
//!   progress), a statement certain not to have run (`StoreError::NotRun`)
//!   is tried again every `RETRY_EVERY`, for at most the failover wait
//!   (`while_failing_over`): a planned switchover costs callers a pause,
//!   not an error. A statement that may have run (a connection lost while
//!   it ran) is never tried again here: the caller gets 503.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::param::Param;
use tokio_postgres::Row;

use super::connection::Statements;
use super::PgStore;
use crate::storage::{LogPosition, ReadFrom, StoreError, StoreResult, Written};

/// How often a statement that did not run is tried again.
const RETRY_EVERY: Duration = Duration::from_millis(100);

impl PgStore {
    /// Where reads that `from` allows run.
    pub(super) fn reads(&self, from: ReadFrom) -> Reads<'_> {
        Reads { store: self, from }
    }

    /// Whether writes note where the primary's log stood after them: only
    /// where replicas serve reads, which need to know.
    pub(super) fn notes_positions(&self) -> bool {
        !self.replicas.is_empty()
    }

    /// `attempt`, and again while it fails having run nothing, until the
    /// failover wait is over.
    pub(super) async fn while_failing_over<T, F, Fut>(&self, attempt: F) -> StoreResult<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        let deadline = tokio::time::Instant::now() + self.failover_wait;
        loop {
            match attempt().await {
                Err(StoreError::NotRun(_))
                    if tokio::time::Instant::now() + RETRY_EVERY < deadline =>
                {
                    tokio::time::sleep(RETRY_EVERY).await;
                }
                other => return other,
            }
        }
    }

    /// Where single-statement writes run.
    pub(super) fn writes(&self) -> Writes<'_> {
        Writes {
            store: self,
            at: AtomicU64::new(0),
        }
    }
}

pub(super) struct Reads<'a> {
    store: &'a PgStore,
    from: ReadFrom,
}

impl Statements for Reads<'_> {
    async fn query(&self, sql: &'static str, params: &[&dyn Param]) -> StoreResult<Vec<Row>> {
        let replicas = &self.store.replicas;
        if let ReadFrom::Replica { at_least } = self.from {
            if let Some(replica) = replicas.pick(at_least) {
                match replica.conn.query(sql, params).await {
                    Ok(rows) => {
                        replica.served();
                        return Ok(rows);
                    }
                    Err(e) => replica.failed(&e),
                }
            }
        }
        replicas.primary_served();
        let readers = &self.store.readers;
        self.store
            .while_failing_over(move || readers.query(sql, params))
            .await
    }
}

/// The writer connections, for one use case's writes: each statement on
/// its own, and, where replicas serve reads, the primary's log position
/// read right behind it (the greatest seen, 0 for none yet).
pub(super) struct Writes<'a> {
    store: &'a PgStore,
    at: AtomicU64,
}

impl Writes<'_> {
    /// `value`, with where the primary's log stood after these writes.
    pub fn written<T>(self, value: T) -> Written<T> {
        let at = self.at.into_inner();
        Written {
            value,
            at: (at > 0).then_some(LogPosition(at)),
        }
    }
}

impl Statements for Writes<'_> {
    async fn query(&self, sql: &'static str, params: &[&dyn Param]) -> StoreResult<Vec<Row>> {
        let (store, writers) = (self.store, &self.store.writers);
        if !store.notes_positions() {
            return store
                .while_failing_over(move || writers.query(sql, params))
                .await;
        }
        let (rows, at) = store
            .while_failing_over(move || writers.query_then_position(sql, params))
            .await?;
        if let Some(LogPosition(at)) = at {
            self.at.fetch_max(at, Ordering::Relaxed);
        }
        Ok(rows)
    }
}
