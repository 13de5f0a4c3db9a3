//! One connection to PostgreSQL, and the one way a statement runs on it,
//! for the shared pipelined connections (`shared`) and the pooled ones that
//! carry transactions (`transaction`) alike: prepared once per connection
//! or sent unnamed (`sending`), its answer bounded in time, and its
//! outcome decided from what the server and the connection said
//! (`outcome`, with what the `driver` noted). [`Statements`] is what the
//! resources' SQL runs on, wherever it runs.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;
use tokio_postgres::types::PgLsn;
use tokio_postgres::{Client, Row, SimpleQueryMessage, Statement};

use super::connect::Target;
use super::driver::{drive, Watch};
use super::errors::failed;
use super::outcome::{decide, Answer, Code, Outcome, Said};
use super::param::Param;

mod in_flight;
mod sending;
use crate::storage::{LogPosition, NotRun, StoreError, StoreResult, Unsettled};
use in_flight::InFlight;

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

/// The error for work that got no answer within `limit`: it may have run.
pub fn not_answering(limit: Duration) -> StoreError {
    StoreError::unavailable(
        Unsettled::MayHaveRun,
        format!("PostgreSQL did not answer within {limit:?}"),
    )
}

pub struct PgConn {
    client: Client,
    /// Statements are prepared once per connection and run by name; if
    /// not, each runs unnamed with its types given (`param`), as a
    /// transaction pooler needs. Turned off for good, for every connection
    /// to the target, once a server lost a prepared statement.
    prepares: Arc<AtomicBool>,
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
    in_flight: InFlight,
}

impl PgConn {
    pub async fn open(target: &Target) -> StoreResult<Self> {
        let (client, connection) = target.connect().await?;
        let watch = Arc::new(Watch::default());
        let driver = tokio::spawn(drive(connection, watch.clone()));
        let conn = Self {
            client,
            prepares: target.prepares_statements.clone(),
            begin: target.begin.clone(),
            statements: Mutex::new(HashMap::new()),
            driver: driver.abort_handle(),
            watch,
            abandoned: AtomicBool::new(false),
            opened: Instant::now(),
            answered_at: AtomicU64::new(0),
            in_flight: InFlight::default(),
        };
        conn.answered_at.store(conn.now(), Ordering::Relaxed);
        let language = conn
            .run(target.limits.connect, || {
                conn.client.simple_query(target.session_settings())
            })
            .await?;
        conn.watch.set_lc_messages(lc_messages(&language));
        Ok(conn)
    }

    /// Open, and not given up on.
    pub fn is_usable(&self) -> bool {
        !self.client.is_closed() && !self.abandoned.load(Ordering::Relaxed)
    }

    /// A statement is in flight on it.
    pub fn is_busy(&self) -> bool {
        self.in_flight.any()
    }

    /// The client itself, for work that needs all of it (migrations).
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// What the driver has noted on this connection.
    pub fn watch(&self) -> &Watch {
        &self.watch
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

    /// Runs `work` on this connection within `limit`, and decides its
    /// outcome (`outcome::decide`): a commit PostgreSQL kept without its
    /// synchronous standby while `work` ran here is not acknowledged
    /// (503), and a failure says whether the statement may have run. Past
    /// `limit`, the caller gets 503; the connection is abandoned only if
    /// the server answered nothing at all on it for that long (a statement
    /// can overstay while the server is busy with those pipelined ahead of
    /// it, each within its own `statement_timeout`: that connection still
    /// works).
    ///
    /// `work` makes the statement's future when called: a future passed in
    /// made would stay in this one's state beside the copy it awaits,
    /// doubling it at each level (rustc keeps a moved argument's space),
    /// and every move of a statement's future is a copy of it.
    async fn run<T, Fut>(&self, limit: Duration, work: impl FnOnce() -> Fut) -> StoreResult<T>
    where
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        if self.abandoned.load(Ordering::Relaxed) {
            return Err(StoreError::unavailable(
                Unsettled::NotRun(NotRun::NoServer),
                "the connection had stopped answering and was given up on",
            ));
        }
        let me = self.in_flight.enter();
        let cuts = self.watch.cuts();
        let answered = tokio::time::timeout(limit, async {
            let e = match work().await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            let answer = self.answer_of(&e);
            if answer == Answer::Lost {
                self.in_flight.until_others_settled(&me).await;
            }
            Err((answer, e))
        })
        .await;
        let (answer, result) = match answered {
            Ok(Ok(value)) => (Answer::Success, Ok(value)),
            Ok(Err((answer, e))) => (answer, Err(Some(e))),
            Err(_) => {
                let silent_for = self.now() - self.answered_at.load(Ordering::Relaxed);
                if silent_for >= limit.as_millis() as u64 {
                    self.abandon();
                }
                (Answer::Silent, Err(None))
            }
        };
        if answer != Answer::Silent {
            self.answered_at.store(self.now(), Ordering::Relaxed);
        }
        let said = Said {
            answer,
            cut: self.watch.cut_since(cuts),
            server_stopping: self.watch.server_stopping(),
        };
        drop(me);
        match (decide(&said), result) {
            (Outcome::Ran, Ok(value)) => Ok(value),
            (Outcome::Failed, Err(Some(e))) => Err(failed(e)),
            (Outcome::Unsettled(outcome), Err(Some(e))) => Err(StoreError::unavailable(outcome, e)),
            (Outcome::Unsettled(Unsettled::MayHaveRun), Err(None)) => Err(not_answering(limit)),
            (Outcome::Unsettled(outcome), _) => {
                Err(StoreError::unavailable(outcome, cut_short(&said)))
            }
            (Outcome::Ran | Outcome::Failed, _) => unreachable!("decided from the answer itself"),
        }
    }

    /// What `e` says of the statement's answer; an answer that says its
    /// backend is stopping is noted for the statements behind it.
    fn answer_of(&self, e: &tokio_postgres::Error) -> Answer {
        if let Some(db) = e.as_db_error() {
            let code = Code::of(db.code());
            if code.is_orderly_stop() {
                self.watch.note_stopping();
            }
            return Answer::Error(code, db.parsed_severity());
        }
        let lost =
            e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
        match lost {
            true => Answer::Lost,
            // Not from the server nor the network (a row of an unexpected
            // type): the statement failed on its own terms.
            false => Answer::Error(Code::Other, None),
        }
    }

    /// Runs one statement within `limit`; its rows.
    pub async fn query(
        &self,
        limit: Duration,
        sql: &'static str,
        params: &[&dyn Param],
    ) -> StoreResult<Vec<Row>> {
        let prepared = self.prepares();
        let work = move || async move {
            let statement = self.statement(sql, params, prepared).await?;
            self.rows(sql, statement.as_ref(), params).await
        };
        self.run(limit, || self.unnamed_if_gone(work)).await
    }

    /// Runs one statement that commits on its own and, right behind it,
    /// reads where the primary's log stands (`then_position`).
    pub async fn query_then_position(
        &self,
        limit: Duration,
        sql: &'static str,
        params: &[&dyn Param],
    ) -> StoreResult<(Vec<Row>, Option<LogPosition>)> {
        let prepared = self.prepares();
        let work = move || async move {
            let statement = self.statement(sql, params, prepared).await?;
            self.then_position(self.rows(sql, statement.as_ref(), params), prepared)
                .await
        };
        self.run(limit, || self.unnamed_if_gone(work)).await
    }

    /// Runs a statement without parameters or rows (`BEGIN`, `ROLLBACK`).
    pub async fn execute(&self, limit: Duration, sql: &str) -> StoreResult<()> {
        self.run(limit, || self.client.batch_execute(sql)).await
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
            .run(limit, || {
                self.then_position(self.client.batch_execute("COMMIT"), self.prepares())
            })
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

/// The server's `lc_messages`, from the row that the session settings end
/// with (`SELECT current_setting('lc_messages')`); empty if none came.
fn lc_messages(answer: &[SimpleQueryMessage]) -> &str {
    let value = answer.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0),
        _ => None,
    });
    value.unwrap_or_default()
}

/// Why a statement the server answered is refused anyway: its commit's
/// wait for the synchronous standby was cut short.
fn cut_short(said: &Said) -> String {
    format!(
        "the server answered, but warned that a commit's wait for the synchronous standby was cut short ({:?})",
        said.cut
    )
}
