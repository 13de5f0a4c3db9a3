//! A few PostgreSQL connections shared by every request, the way the
//! fastest Rust entries of the TechEmpower database tests work: each
//! statement is prepared once per connection, and concurrent requests'
//! queries are pipelined on the same connection by tokio-postgres instead of
//! each request checking a connection out of a pool.
//!
//! Only single statements run here (each is atomic on its own); anything
//! that needs a transaction across statements takes a pooled connection,
//! since another request's query could otherwise land inside it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::param::Param;
use tokio_postgres::Row;

use super::connect::Target;
use super::connection::{not_answering, PgConn, Statements};
use crate::storage::health::Counted;
use crate::storage::{ConnectionStats, LogPosition, NotRun, StoreError, StoreResult, Unsettled};

struct Slot {
    conn: RwLock<Option<Arc<PgConn>>>,
    /// Serialises reconnecting, so a lost connection is replaced once.
    connecting: tokio::sync::Mutex<()>,
    /// When the last attempt to connect failed (`Shared::now`; 0: never).
    failed_at: AtomicU64,
}

impl Slot {
    fn live(&self) -> Option<Arc<PgConn>> {
        self.conn
            .read()
            .expect("not poisoned")
            .as_ref()
            .filter(|c| c.is_usable())
            .cloned()
    }
}

pub struct Shared {
    name: &'static str,
    target: Target,
    slots: Vec<Slot>,
    next: AtomicUsize,
    /// Requests waiting for a slot to (re)connect.
    waiting: AtomicUsize,
    /// The zero of the millisecond clock that `failed_at` counts on.
    epoch: Instant,
}

impl Shared {
    /// `size` shared connections to `target`, opened on first use;
    /// `name` labels them in the metrics.
    pub fn new(name: &'static str, target: Target, size: usize) -> Self {
        let slots = (0..size.max(1))
            .map(|_| Slot {
                conn: RwLock::new(None),
                connecting: tokio::sync::Mutex::new(()),
                failed_at: AtomicU64::new(0),
            })
            .collect();
        Self {
            name,
            target,
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
        params: &[&dyn Param],
    ) -> StoreResult<Vec<Row>> {
        let probe = async { self.get().await?.query(limit, sql, params).await };
        tokio::time::timeout(limit, probe)
            .await
            .map_err(|_| not_answering(limit))?
    }

    /// Runs one statement that commits on its own and, pipelined right
    /// behind it, reads where the primary's log then stands.
    pub async fn query_then_position(
        &self,
        sql: &'static str,
        params: &[&dyn Param],
    ) -> StoreResult<(Vec<Row>, Option<LogPosition>)> {
        let conn = self.get().await?;
        conn.query_then_position(self.target.limits.statement, sql, params)
            .await
    }

    /// A live shared connection, round robin; a closed one is replaced.
    async fn get(&self) -> StoreResult<Arc<PgConn>> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(conn) = slot.live() {
            return Ok(conn);
        }
        let asked_at = self.now();
        let _waiting = Counted::enter(&self.waiting);
        let _connecting = slot.connecting.lock().await;
        if let Some(conn) = slot.live() {
            return Ok(conn);
        }
        // An attempt made while this request waited has just failed: fail
        // too, rather than queue for another full connect timeout each.
        if slot.failed_at.load(Ordering::Relaxed) >= asked_at {
            return Err(StoreError::unavailable(
                Unsettled::NotRun(NotRun::NoServer),
                "connecting to PostgreSQL failed just now",
            ));
        }
        let conn = PgConn::open(&self.target).await.inspect_err(|_| {
            slot.failed_at.store(self.now(), Ordering::Relaxed);
        })?;
        let conn = Arc::new(conn);
        *slot.conn.write().expect("not poisoned") = Some(conn.clone());
        Ok(conn)
    }

    /// How the shared connections are used right now.
    pub fn stats(&self) -> ConnectionStats {
        let open: Vec<Arc<PgConn>> = self.slots.iter().filter_map(Slot::live).collect();
        let in_use = open.iter().filter(|c| c.is_busy()).count();
        ConnectionStats {
            pool: self.name,
            max: self.slots.len(),
            in_use,
            idle: open.len() - in_use,
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }
}

impl Statements for Shared {
    async fn query(&self, sql: &'static str, params: &[&dyn Param]) -> StoreResult<Vec<Row>> {
        let conn = self.get().await?;
        conn.query(self.target.limits.statement, sql, params).await
    }
}
