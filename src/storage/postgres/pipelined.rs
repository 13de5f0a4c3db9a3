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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::task::AbortHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use super::errors::db_error;
use super::Limits;
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
}

impl Pipelined {
    pub fn new(name: &'static str, config: Config, size: usize, limits: Limits) -> Self {
        let slots = (0..size.max(1))
            .map(|_| Slot {
                conn: RwLock::new(None),
                connecting: tokio::sync::Mutex::new(()),
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
        }
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

    /// Runs `work` on `conn` within the statement time limit. Past it the
    /// server is not answering (a statement it is merely slow on has been
    /// cancelled by its own `statement_timeout` before this fires), so the
    /// connection is abandoned.
    async fn bounded<T>(
        &self,
        slot: &Slot,
        conn: &SharedConn,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        let _busy = Counted::enter(&slot.in_flight);
        match tokio::time::timeout(self.limits.statement, work).await {
            Ok(result) => result.map_err(db_error),
            Err(_) => {
                conn.abandon();
                Err(StoreError::Unavailable(format!(
                    "PostgreSQL did not answer within {:?}; connection dropped",
                    self.limits.statement
                )))
            }
        }
    }

    /// A live shared connection, round robin; a closed one is replaced.
    async fn get(&self) -> StoreResult<(&Slot, Arc<SharedConn>)> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(conn) = live(slot) {
            return Ok((slot, conn));
        }
        let _waiting = Counted::enter(&self.waiting);
        let _connecting = slot.connecting.lock().await;
        if let Some(conn) = live(slot) {
            return Ok((slot, conn));
        }
        // The whole handshake is bounded, not only the TCP connect: a
        // server that accepts but never answers must not hold this slot.
        let (client, connection) =
            tokio::time::timeout(self.limits.connect, self.config.connect(NoTls))
                .await
                .map_err(|_| StoreError::Unavailable("connecting to PostgreSQL timed out".into()))?
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "shared PostgreSQL connection closed");
            }
        });
        let conn = Arc::new(SharedConn {
            client,
            statements: Mutex::new(HashMap::new()),
            driver: driver.abort_handle(),
            abandoned: AtomicBool::new(false),
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

fn live(slot: &Slot) -> Option<Arc<SharedConn>> {
    slot.conn
        .read()
        .expect("not poisoned")
        .as_ref()
        .filter(|c| !c.client.is_closed() && !c.abandoned.load(Ordering::Relaxed))
        .cloned()
}
