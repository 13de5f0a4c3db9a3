//! Whether the database answers, and how its connections and replicas
//! are used: what readiness and `/metrics` report, on either backend.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::StoreResult;

/// How long a readiness probe (`Health::ping`) waits for the database,
/// on either backend.
pub const READY_PROBE_LIMIT: Duration = Duration::from_secs(2);

#[async_trait]
pub trait Health: Send + Sync {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;

    /// One entry per pool or set of shared connections, read now.
    fn connections(&self) -> Vec<ConnectionStats>;

    /// Where reads went, and how each replica stands.
    fn reads(&self) -> ReadStats {
        ReadStats::default()
    }
}

/// Reads served so far by the primary and by each replica.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadStats {
    /// Reads the primary served (PostgreSQL only).
    pub primary: u64,
    pub replicas: Vec<ReplicaStats>,
}

/// One read replica, at its last check.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaStats {
    /// `host:port`.
    pub name: String,
    pub reads: u64,
    /// Up and in recovery at the last check.
    pub usable: bool,
    /// How far behind the primary it was; `None` when not known.
    pub lag: Option<Duration>,
}

/// How one pool (or set of shared connections) is used at this moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionStats {
    /// `pg_readers`, `pg_writers`, `pg_transactions`, `pg_replica:host:port`,
    /// `sqlite_readers`, `sqlite_writer`.
    pub pool: &'static str,
    /// Most connections it opens.
    pub max: usize,
    /// Open connections with work on them (a shared one: a statement in flight).
    pub in_use: usize,
    /// Open connections with nothing to do.
    pub idle: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

/// Counts one thing in progress (a request waiting, a statement in flight)
/// until dropped, cancelled requests included.
pub(crate) struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    pub(crate) fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
