//! A few PostgreSQL connections shared by every request, the way the
//! fastest Rust entries of the TechEmpower database tests work: each
//! statement is prepared once per connection, and concurrent requests'
//! queries are pipelined on the same connection by tokio-postgres instead of
//! each request checking a connection out of a pool.
//!
//! Only single statements run here (each is atomic on its own); anything
//! that needs a transaction across statements takes a pooled connection,
//! since another request's query could otherwise land inside it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Row, Statement};

use super::errors::db_error;
use super::{not_answering, Limits, WAL_POSITION};
use crate::storage::{ConnectionStats, Counted, StoreError, StoreResult};

/// One shared connection and the statements prepared on it.
struct SharedConn {
    client: Client,
    statements: Mutex<HashMap<&'static str, Statement>>,
    /// The task that drives the socket.
    driver: AbortHandle,
    /// Set when abandoned: the driver stops at its next turn, but no new
    /// statement should be sent meanwhile.
    abandoned: AtomicBool,
    /// When the server last answered a statement on it (`Pipelined::now`).
    answered_at: AtomicU64,
    /// Commits on it that PostgreSQL kept without the synchronous
    /// standby's confirmation (`drive`).
    unconfirmed_commits: Arc<AtomicU64>,
}

impl SharedConn {
    /// The statement for `sql`, prepared on first use on this connection.
    async fn prepared(&self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(statement) = self.statements.lock().expect("not poisoned").get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).await?;
        self.statements
            .lock()
            .expect("not poisoned")
            .insert(sql, statement.clone());
        Ok(statement)
    }

    /// Closes the socket of a connection that stopped answering: every
    /// statement still waiting on it fails at once instead of each waiting
    /// out its own time limit, and the slot reconnects on next use.
    fn abandon(&self) {
        self.abandoned.store(true, Ordering::Relaxed);
        self.driver.abort();
    }
}

struct Slot {
    conn: RwLock<Option<Arc<SharedConn>>>,
    /// Serialises reconnecting, so a lost connection is replaced once.
    connecting: tokio::sync::Mutex<()>,
    /// When the last attempt to connect failed (`Pipelined::now`; 0: never).
    failed_at: AtomicU64,
    /// Statements sent on this slot's connection and not yet answered.
    in_flight: AtomicUsize,
}

pub struct Pipelined {
    name: &'static str,
    config: Config,
    limits: Limits,
    slots: Vec<Slot>,
    next: AtomicUsize,
    /// Requests waiting for a slot to (re)connect.
    waiting: AtomicUsize,
    /// The zero of the millisecond clock that `answered_at` and
    /// `failed_at` count on.
    epoch: Instant,
}

impl Pipelined {
    pub fn new(name: &'static str, config: Config, size: usize, limits: Limits) -> Self {
        let slots = (0..size.max(1))
            .map(|_| Slot {
                conn: RwLock::new(None),
                connecting: tokio::sync::Mutex::new(()),
                failed_at: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
            })
            .collect();
        Self {
            name,
            config,
            limits,
            slots,
            next: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    /// Milliseconds since `epoch`, at least 1.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Whether the database answers `SELECT 1` within `limit`. A
    /// connection that answers nothing in that time is abandoned, as a
    /// statement's would be: with traffic gone (a balancer took the
    /// instance out on this very probe), the probe is what notices.
    pub async fn ping(&self, limit: Duration) -> StoreResult<()> {
        self.query_within(limit, "SELECT 1", &[]).await.map(drop)
    }

    /// Runs one statement, connecting included, within `limit`.
    pub async fn query_within(
        &self,
        limit: Duration,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let probe = async {
            let (slot, conn) = self.get().await?;
            self.bounded_within(limit, slot, &conn, async {
                let statement = conn.prepared(sql).await?;
                conn.client.query(&statement, params).await
            })
            .await
        };
        tokio::time::timeout(limit, probe)
            .await
            .map_err(|_| not_answering(limit))?
    }

    /// Runs one write statement and, pipelined right behind it on the same
    /// connection (so the server runs it after the write has committed),
    /// reads the primary's WAL position (`WAL_POSITION`). The write's own
    /// result decides success; the position's read may fail on its own.
    pub async fn query_then_position(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<(Vec<Row>, Result<Row, tokio_postgres::Error>)> {
        let (slot, conn) = self.get().await?;
        self.bounded(slot, &conn, async {
            let statement = conn.prepared(sql).await?;
            let position = conn.prepared(WAL_POSITION).await?;
            // Both sent before either answer is awaited: in this order,
            // on this connection, with no round trip in between.
            let (rows, position) = tokio::join!(
                conn.client.query(&statement, params),
                conn.client.query_one(&position, &[])
            );
            rows.map(|rows| (rows, position))
        })
        .await
    }

    /// Runs one statement and returns its rows.
    pub async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let (slot, conn) = self.get().await?;
        self.bounded(slot, &conn, async {
            let statement = conn.prepared(sql).await?;
            conn.client.query(&statement, params).await
        })
        .await
    }

    /// Runs one statement that returns exactly one row.
    pub async fn query_one(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Row> {
        self.query_opt(sql, params)
            .await?
            .ok_or_else(|| StoreError::Other(anyhow::anyhow!("a statement returned no row")))
    }

    /// Runs one statement that returns at most one row.
    pub async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        let (slot, conn) = self.get().await?;
        self.bounded(slot, &conn, async {
            let statement = conn.prepared(sql).await?;
            conn.client.query_opt(&statement, params).await
        })
        .await
    }

    /// Runs one statement and returns the number of rows it changed.
    pub async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        let (slot, conn) = self.get().await?;
        self.bounded(slot, &conn, async {
            let statement = conn.prepared(sql).await?;
            conn.client.execute(&statement, params).await
        })
        .await
    }

    /// Runs `work` on `conn` within the statement time limit.
    async fn bounded<T>(
        &self,
        slot: &Slot,
        conn: &SharedConn,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        self.bounded_within(self.limits.statement, slot, conn, work)
            .await
    }

    /// Runs `work` on `conn` within `limit`. Past it, the request gets 503;
    /// the connection is abandoned only if the server answered nothing at
    /// all on it for that long. A statement can overstay while the server
    /// is busy with the statements pipelined ahead of it (each within its
    /// own `statement_timeout`); that connection still works.
    async fn bounded_within<T>(
        &self,
        limit: Duration,
        slot: &Slot,
        conn: &SharedConn,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        let _busy = Counted::enter(&slot.in_flight);
        let unconfirmed_before = conn.unconfirmed_commits.load(Ordering::Relaxed);
        match tokio::time::timeout(limit, work).await {
            Ok(result) => {
                conn.answered_at.store(self.now(), Ordering::Relaxed);
                let result = result.map_err(db_error)?;
                if conn.unconfirmed_commits.load(Ordering::Relaxed) != unconfirmed_before {
                    // This statement, or one pipelined beside it, committed
                    // on the primary alone: not acknowledged (`drive`).
                    return Err(StoreError::Unavailable(
                        "the commit was not confirmed by the synchronous standby".into(),
                    ));
                }
                Ok(result)
            }
            Err(_) => {
                let silent_for = self.now() - conn.answered_at.load(Ordering::Relaxed);
                if silent_for >= limit.as_millis() as u64 {
                    conn.abandon();
                }
                Err(not_answering(limit))
            }
        }
    }

    /// A live shared connection, round robin; a closed one is replaced.
    async fn get(&self) -> StoreResult<(&Slot, Arc<SharedConn>)> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(conn) = live(slot) {
            return Ok((slot, conn));
        }
        let asked_at = self.now();
        let _waiting = Counted::enter(&self.waiting);
        let _connecting = slot.connecting.lock().await;
        if let Some(conn) = live(slot) {
            return Ok((slot, conn));
        }
        // An attempt made while this request waited has just failed: fail
        // too, rather than queue for another full connect timeout each.
        if slot.failed_at.load(Ordering::Relaxed) >= asked_at {
            return Err(StoreError::Unavailable(
                "connecting to PostgreSQL failed just now".into(),
            ));
        }
        // The whole handshake is bounded, not only the TCP connect: a
        // server that accepts but never answers must not hold this slot.
        let connected =
            match tokio::time::timeout(self.limits.connect, self.config.connect(NoTls)).await {
                Ok(Ok(connected)) => Ok(connected),
                Ok(Err(e)) => Err(StoreError::Unavailable(e.to_string())),
                Err(_) => Err(StoreError::Unavailable(
                    "connecting to PostgreSQL timed out".into(),
                )),
            };
        let (client, connection) = connected.inspect_err(|_| {
            slot.failed_at.store(self.now(), Ordering::Relaxed);
        })?;
        let unconfirmed_commits = Arc::new(AtomicU64::new(0));
        let driver = tokio::spawn(drive(connection, unconfirmed_commits.clone()));
        let conn = Arc::new(SharedConn {
            client,
            statements: Mutex::new(HashMap::new()),
            driver: driver.abort_handle(),
            abandoned: AtomicBool::new(false),
            answered_at: AtomicU64::new(self.now()),
            unconfirmed_commits,
        });
        *slot.conn.write().expect("not poisoned") = Some(conn.clone());
        Ok((slot, conn))
    }

    /// How the shared connections are used right now.
    pub fn stats(&self) -> ConnectionStats {
        let open: Vec<&Slot> = self.slots.iter().filter(|s| live(s).is_some()).collect();
        let in_use = open
            .iter()
            .filter(|s| s.in_flight.load(Ordering::Relaxed) > 0)
            .count();
        ConnectionStats {
            pool: self.name,
            max: self.slots.len(),
            in_use,
            idle: open.len() - in_use,
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }
}

/// Drives one connection's socket until it closes (a shared one's, or a
/// pooled one's: `WatchedConnect`), and watches its notices for one: when a commit waits for the synchronous standby past
/// `statement_timeout`, PostgreSQL stops waiting, keeps the commit on the
/// primary alone, and says so only in a WARNING, sent before the
/// statement's own answer. Counting it here, before that answer reaches
/// the statement, lets the statement's runner (`bounded_within`,
/// `PgTx::commit`) refuse to acknowledge the write: a failover to the
/// standby would lose it.
pub(super) async fn drive(
    mut connection: tokio_postgres::Connection<
        tokio_postgres::Socket,
        tokio_postgres::tls::NoTlsStream,
    >,
    unconfirmed_commits: Arc<AtomicU64>,
) {
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notice(notice))) if is_unconfirmed_commit(&notice) => {
                unconfirmed_commits.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    notice = notice.message(),
                    "PostgreSQL kept a commit without its synchronous standby; the write is not acknowledged"
                );
            }
            Some(Ok(AsyncMessage::Notice(notice))) => {
                tracing::info!("{}: {}", notice.severity(), notice.message());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::warn!(error = %e, "PostgreSQL connection closed");
                return;
            }
            None => return,
        }
    }
}

/// PostgreSQL's warning for a wait for synchronous replication cut short
/// (by `statement_timeout` or a cancel), the commit kept locally. Matched
/// by its text, as it has no SQLSTATE of its own; servers whose
/// `lc_messages` is not English word it otherwise.
fn is_unconfirmed_commit(notice: &tokio_postgres::error::DbError) -> bool {
    notice
        .message()
        .starts_with("canceling wait for synchronous replication")
}

fn live(slot: &Slot) -> Option<Arc<SharedConn>> {
    slot.conn
        .read()
        .expect("not poisoned")
        .as_ref()
        .filter(|c| !c.client.is_closed() && !c.abandoned.load(Ordering::Relaxed))
        .cloned()
}
