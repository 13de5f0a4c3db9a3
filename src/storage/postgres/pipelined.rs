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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use super::errors::db_error;
use crate::storage::{StoreError, StoreResult};

/// One shared connection and the statements prepared on it.
struct SharedConn {
    client: Client,
    statements: Mutex<HashMap<&'static str, Statement>>,
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
}

struct Slot {
    conn: RwLock<Option<Arc<SharedConn>>>,
    /// Serialises reconnecting, so a lost connection is replaced once.
    connecting: tokio::sync::Mutex<()>,
}

pub struct Pipelined {
    config: Config,
    connect_timeout: Duration,
    slots: Vec<Slot>,
    next: AtomicUsize,
}

impl Pipelined {
    pub fn new(config: Config, size: usize, connect_timeout: Duration) -> Self {
        let slots = (0..size.max(1))
            .map(|_| Slot {
                conn: RwLock::new(None),
                connecting: tokio::sync::Mutex::new(()),
            })
            .collect();
        Self {
            config,
            connect_timeout,
            slots,
            next: AtomicUsize::new(0),
        }
    }

    /// Runs one statement and returns its rows.
    pub async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let (conn, statement) = self.prepare(sql).await?;
        conn.client
            .query(&statement, params)
            .await
            .map_err(db_error)
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
        let (conn, statement) = self.prepare(sql).await?;
        conn.client
            .query_opt(&statement, params)
            .await
            .map_err(db_error)
    }

    /// Runs one statement and returns the number of rows it changed.
    pub async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        let (conn, statement) = self.prepare(sql).await?;
        conn.client
            .execute(&statement, params)
            .await
            .map_err(db_error)
    }

    /// A shared connection and `sql` prepared on it.
    async fn prepare(&self, sql: &'static str) -> StoreResult<(Arc<SharedConn>, Statement)> {
        let conn = self.get().await?;
        let statement = conn.prepared(sql).await.map_err(db_error)?;
        Ok((conn, statement))
    }

    /// A live shared connection, round robin; a closed one is replaced.
    async fn get(&self) -> StoreResult<Arc<SharedConn>> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(conn) = live(slot) {
            return Ok(conn);
        }
        let _connecting = slot.connecting.lock().await;
        if let Some(conn) = live(slot) {
            return Ok(conn);
        }
        let unavailable = |e: String| StoreError::Unavailable(e);
        let (client, connection) =
            tokio::time::timeout(self.connect_timeout, self.config.connect(NoTls))
                .await
                .map_err(|_| unavailable("connecting to PostgreSQL timed out".into()))?
                .map_err(|e| unavailable(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "shared PostgreSQL connection closed");
            }
        });
        let conn = Arc::new(SharedConn {
            client,
            statements: Mutex::new(HashMap::new()),
        });
        *slot.conn.write().expect("not poisoned") = Some(conn.clone());
        Ok(conn)
    }
}

fn live(slot: &Slot) -> Option<Arc<SharedConn>> {
    slot.conn
        .read()
        .expect("not poisoned")
        .as_ref()
        .filter(|c| !c.client.is_closed())
        .cloned()
}
