//! One connection to PostgreSQL, and the one way a statement runs on it,
//! for the shared pipelined connections (`shared`) and the pooled ones that
//! carry transactions (`transaction`) alike: prepared once per connection
//! or sent unnamed (`sending`), its answer bounded in time, and a commit
//! that PostgreSQL kept without its synchronous standby refused
//! (`driver`). [`Statements`] is what the resources' SQL runs on, wherever
//! it runs.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;
use tokio_postgres::types::PgLsn;
use tokio_postgres::{Client, Row, Statement};

use super::connect::Target;
use super::driver::{drive, is_stopping, Watch};
use super::errors::db_error;
use super::param::Param;

mod sending;
use crate::storage::health::Counted;
use crate::storage::{LogPosition, StoreError, StoreResult};

/// The primary's WAL position, read right after a write has committed: a
/// replica that has replayed this far has that write. The insert position,
/// not the written or flushed one: it covers the commit even where
/// `synchronous_commit` is off.
const WAL_POSITION: &str = "SELECT pg_current_wal_insert_lsn()";

/// Where one statement runs: the shared connections, or a transaction's
/// own. The resources' SQL is written once, against this.
pub trait Statements: Sync {
    /// Runs `sql` (prepared once per connection) with `params`; its rows.
    fn query(
        &self,
        sql: &'static str,
        params: &[&dyn Param],
    ) -> impl Future<Output = StoreResult<Vec<Row>>> + Send;

    /// Runs a statement that returns at most one row.
    fn query_opt(
        &self,
        sql: &'static str,
        params: &[&dyn Param],
    ) -> impl Future<Output = StoreResult<Option<Row>>> + Send {
        async move { Ok(self.query(sql, params).await?.into_iter().next()) }
    }

    /// Runs a statement that returns exactly one row (`INSERT ... RETURNING`).
    fn query_one(
        &self,
        sql: &'static str,
        params: &[&dyn Param],
    ) -> impl Future<Output = StoreResult<Row>> + Send {
        async move {
            self.query_opt(sql, params)
                .await?
                .ok_or_else(|| StoreError::Other(anyhow::anyhow!("a statement returned no row")))
        }
    }
}

/// The error for a statement past its limit.
pub fn not_answering(limit: Duration) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL did not answer within {limit:?}"))
}

pub struct PgConn {
    client: Client,
    /// Statements are prepared once per connection and run by name; if
    /// not, each runs unnamed with its types given (`param`), as a
    /// transaction pooler needs. Turned off for good on a connection whose
    /// server lost a prepared statement.
    prepares: AtomicBool,
    /// `BEGIN` with the server's limits local to the transaction.
    begin: Arc<str>,
    statements: Mutex<HashMap<&'static str, Statement>>,
    /// The task that drives the socket, and what it has seen.
    driver: AbortHandle,
    watch: Arc<Watch>,
    /// Set when abandoned: the driver stops at its next turn, but nothing
    /// more should be sent meanwhile.
    abandoned: AtomicBool,
    /// The zero of `answered_at`'s millisecond clock.
    opened: Instant,
    /// When the server last answered a statement here (ms since `opened`, at least 1).
    answered_at: AtomicU64,
    /// Statements sent and not yet answered.
    in_flight: AtomicUsize,
}

/// How long a statement that found its connection closed waits for the
/// statement ahead of it to report why (`Watch::server_stopping`).
const STOPPING_REPORT_WAIT: Duration = Duration::from_millis(20);

impl PgConn {
    pub async fn open(target: &Target) -> StoreResult<Self> {
        let (client, connection) = target.connect().await?;
        let watch = Arc::new(Watch::default());
        let driver = tokio::spawn(drive(connection, watch.clone()));
        let conn = Self {
            client,
            prepares: AtomicBool::new(target.prepares_statements),
            begin: target.begin.clone(),
            statements: Mutex::new(HashMap::new()),
            driver: driver.abort_handle(),
            watch,
            abandoned: AtomicBool::new(false),
            opened: Instant::now(),
            answered_at: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        };
        conn.answered_at.store(conn.now(), Ordering::Relaxed);
        conn.execute(target.limits.connect, target.session_settings())
            .await?;
        Ok(conn)
    }

    /// Open, and not given up on.
    pub fn is_usable(&self) -> bool {
        !self.client.is_closed() && !self.abandoned.load(Ordering::Relaxed)
    }

    /// A statement is in flight on it.
    pub fn is_busy(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0
    }

    /// The client itself, for work that needs all of it (migrations).
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64 + 1
    }

    /// Closes the socket of a connection that stopped answering: every
    /// statement still waiting on it fails at once instead of each waiting
    /// out its own time limit, and its holder replaces it.
    fn abandon(&self) {
        self.abandoned.store(true, Ordering::Relaxed);
        self.driver.abort();
    }

    /// Runs `work` on this connection within `limit`. Past it, the caller
    /// gets 503; the connection is abandoned only if the server answered
    /// nothing at all on it for that long (a statement can overstay while
    /// the server is busy with those pipelined ahead of it, each within its
    /// own `statement_timeout`: that connection still works). A commit that
    /// PostgreSQL kept without its synchronous standby while `work` ran
    /// here is not acknowledged either (503).
    async fn run<T>(
        &self,
        limit: Duration,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Err(not_answering(limit));
        }
        let _busy = Counted::enter(&self.in_flight);
        let unconfirmed_before = self.watch.unconfirmed_commits();
        match tokio::time::timeout(limit, work).await {
            Ok(result) => {
                self.answered_at.store(self.now(), Ordering::Relaxed);
                let result = match result {
                    Ok(result) => result,
                    Err(e) => return Err(self.failed(e, unconfirmed_before).await),
                };
                if self.watch.unconfirmed_commits() != unconfirmed_before {
                    return Err(StoreError::Unavailable(
                        "the commit was not confirmed by the synchronous standby".into(),
                    ));
                }
                Ok(result)
            }
            Err(_) => {
                let silent_for = self.now() - self.answered_at.load(Ordering::Relaxed);
                if silent_for >= limit.as_millis() as u64 {
                    self.abandon();
                }
                Err(not_answering(limit))
            }
        }
    }

    /// A statement's error as a storage error. One that found the
    /// connection closed ran nothing if the server had said it was
    /// stopping (to a statement ahead of it here, or unasked: a clean
    /// shutdown, as in a switchover; the server reads nothing more), and no
    /// commit went unconfirmed meanwhile; otherwise it may have run (a
    /// crash), and is not to be tried again.
    async fn failed(&self, e: tokio_postgres::Error, unconfirmed_before: u64) -> StoreError {
        if e.code().is_some_and(|code| is_stopping(code.code())) {
            self.watch.note_stopping();
        }
        if e.is_closed() {
            if !self.watch.server_stopping() {
                // The statement ahead may be reading its error right now.
                tokio::time::sleep(STOPPING_REPORT_WAIT).await;
            }
            let stopping = self.watch.server_stopping();
            let unconfirmed = self.watch.unconfirmed_commits() != unconfirmed_before;
            if stopping && !unconfirmed {
                return StoreError::NotRun(format!("{e}, after the server said it was stopping"));
            }
            if unconfirmed && self.watch.cut_by_shutdown() {
                return StoreError::CutShortByShutdown(format!(
                    "{e}: the server shut down while the commit waited for its synchronous standby"
                ));
            }
        }
        db_error(e)
    }

    /// Runs one statement within `limit`; its rows.
    pub async fn query(
        &self,
        limit: Duration,
        sql: &'static str,
        params: &[&dyn Param],
    ) -> StoreResult<Vec<Row>> {
        let work = |prepared| async move {
            let statement = self.statement(sql, params, prepared).await?;
            self.rows(sql, statement.as_ref(), params).await
        };
        self.run(limit, self.unnamed_if_gone(work)).await
    }

    /// Runs one statement that commits on its own and, right behind it,
    /// reads where the primary's log stands (`then_position`).
    pub async fn query_then_position(
        &self,
        limit: Duration,
        sql: &'static str,
        params: &[&dyn Param],
    ) -> StoreResult<(Vec<Row>, Option<LogPosition>)> {
        let work = |prepared| async move {
            let statement = self.statement(sql, params, prepared).await?;
            self.then_position(self.rows(sql, statement.as_ref(), params), prepared)
                .await
        };
        self.run(limit, self.unnamed_if_gone(work)).await
    }

    /// Runs a statement without parameters or rows (`BEGIN`, `ROLLBACK`).
    pub async fn execute(&self, limit: Duration, sql: &str) -> StoreResult<()> {
        self.run(limit, self.client.batch_execute(sql)).await
    }

    /// Begins a transaction, its time limits set for it alone.
    pub async fn begin(&self, limit: Duration) -> StoreResult<()> {
        self.execute(limit, &self.begin).await
    }

    /// `COMMIT`, and with `position`, where the primary's log stands after it.
    pub async fn commit(
        &self,
        limit: Duration,
        position: bool,
    ) -> StoreResult<Option<LogPosition>> {
        if !position {
            return self.execute(limit, "COMMIT").await.map(|()| None);
        }
        let ((), at) = self
            .run(
                limit,
                self.then_position(self.client.batch_execute("COMMIT"), self.prepares()),
            )
            .await?;
        Ok(at)
    }

    /// Runs `first` and, pipelined right behind it on this connection, reads
    /// the primary's WAL position: sent before either answer is awaited, so
    /// the server reads it after `first` has committed, with no round trip
    /// in between. `first` must send its request when first polled (a
    /// statement prepared already, or a simple query). Its own result decides
    /// success; the position's read may fail on its own (`None`).
    async fn then_position<T>(
        &self,
        first: impl Future<Output = Result<T, tokio_postgres::Error>>,
        prepared: bool,
    ) -> Result<(T, Option<LogPosition>), tokio_postgres::Error> {
        let position = self.statement(WAL_POSITION, &[], prepared).await?;
        let (first, position) =
            tokio::join!(first, self.rows(WAL_POSITION, position.as_ref(), &[]));
        let first = first?;
        let read = position.and_then(|rows| match rows.first() {
            Some(row) => row.try_get::<_, PgLsn>(0).map(Some),
            None => Ok(None),
        });
        let position = match read {
            Ok(Some(position)) => Some(LogPosition(position.into())),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "could not read the WAL position after a write; the caller's next reads may miss it"
                );
                None
            }
        };
        Ok((first, position))
    }
}
