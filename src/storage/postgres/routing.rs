//! Where each statement goes, decided here and nowhere else; whether it
//! is tried again is the retry policy's (`storage::retry`).
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
//! - **Every statement on the shared connections** runs through the retry
//!   policy (`storage::retry`): while no server takes it (a failover or
//!   switchover in progress), one certain not to have run is tried again
//!   within the request's budget, so that a planned switchover costs
//!   callers a pause, not an error; one that may have run never is.

use std::sync::atomic::{AtomicU64, Ordering};

use super::param::Param;
use tokio_postgres::Row;

use super::connection::Statements;
use super::PgStore;
use crate::storage::retry::Work;
use crate::storage::{LogPosition, ReadFrom, StoreResult, Written};

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
            .retry
            .run(Work::Statement, move || readers.query(sql, params))
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
                .retry
                .run(Work::Statement, move || writers.query(sql, params))
                .await;
        }
        let (rows, at) = store
            .retry
            .run(Work::Statement, move || {
                writers.query_then_position(sql, params)
            })
            .await?;
        if let Some(LogPosition(at)) = at {
            self.at.fetch_max(at, Ordering::Relaxed);
        }
        Ok(rows)
    }
}
