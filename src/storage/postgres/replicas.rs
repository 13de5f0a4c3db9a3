//! Hot standbys that serve reads, and how far behind the primary each is.
//!
//! Every `CHECK_EVERY`, orderly samples the primary's WAL position and
//! asks each replica whether it is in recovery and how far it has replayed.
//! A replica's lag is how long ago the primary stood where the replica
//! stands now: 0 when it has replayed all the primary had written at this
//! check, and growing while it does not catch up (replay paused, a broken
//! stream, a primary out of reach). A read may go to a replica that
//! answered the last check, is in recovery (a promoted standby is no
//! replica), lags no more than the bound, and has replayed as far as the
//! read asks (`ReadFrom::Replica`); else it goes to the primary
//! (`routing`). The checks run in a task of their own for as long as the
//! store lives ([`Checks`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;
use tokio_postgres::types::PgLsn;

use super::shared::Shared;
use crate::storage::{LogPosition, ReadStats, ReplicaStats};

/// How often the primary and the replicas are checked: also how long after
/// a replica has caught up with a caller's write its reads may go there.
pub const CHECK_EVERY: Duration = Duration::from_millis(100);

/// How long one check waits for a server's answer.
const CHECK_LIMIT: Duration = Duration::from_millis(500);

/// Lag is unknown (never checked, or never caught up with a sample kept).
const UNKNOWN: u64 = u64::MAX;

pub struct Replica {
    /// `host:port`, for logs and metrics (never the URL: it may hold a password).
    name: String,
    pub(super) conn: Shared,
    /// Answered the last check, in recovery.
    usable: AtomicBool,
    /// WAL position replayed, at the last check.
    replayed: AtomicU64,
    /// Milliseconds behind the primary, at the last check (`UNKNOWN`).
    lag_ms: AtomicU64,
    /// Reads served.
    reads: AtomicU64,
}

impl Replica {
    pub fn new(name: String, conn: Shared) -> Self {
        Self {
            name,
            conn,
            usable: AtomicBool::new(false),
            replayed: AtomicU64::new(0),
            lag_ms: AtomicU64::new(UNKNOWN),
            reads: AtomicU64::new(0),
        }
    }

    fn serves(&self, floor: u64, max_lag_ms: u64) -> bool {
        self.usable.load(Ordering::Relaxed)
            && self.replayed.load(Ordering::Relaxed) >= floor
            && self.lag_ms.load(Ordering::Relaxed) <= max_lag_ms
    }

    /// A read served here.
    pub fn served(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// A read failed here: no more reads until a check finds it well.
    pub fn failed(&self, error: &crate::storage::StoreError) {
        if self.usable.swap(false, Ordering::Relaxed) {
            tracing::warn!(replica = %self.name, %error, "a read failed on a replica; reading from the primary");
        }
    }

    fn set_unusable(&self, why: &str) {
        self.lag_ms.store(UNKNOWN, Ordering::Relaxed);
        if self.usable.swap(false, Ordering::Relaxed) {
            tracing::warn!(replica = %self.name, why, "replica skipped; reading from the primary");
        }
    }
}

pub struct Replicas {
    members: Vec<Replica>,
    max_lag_ms: u64,
    /// (ms since `epoch`, the primary's WAL position), oldest first, kept
    /// for `max_lag` and then some.
    samples: Mutex<VecDeque<(u64, u64)>>,
    keep_ms: u64,
    next: AtomicUsize,
    primary_reads: AtomicU64,
    epoch: Instant,
}

impl Replicas {
    pub fn new(members: Vec<Replica>, max_lag: Duration) -> Self {
        let max_lag_ms = max_lag.as_millis() as u64;
        Self {
            members,
            max_lag_ms,
            samples: Mutex::new(VecDeque::new()),
            keep_ms: max_lag_ms + 10_000,
            next: AtomicUsize::new(0),
            primary_reads: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn members(&self) -> &[Replica] {
        &self.members
    }

    /// A replica that may serve a read which must see `floor`, round robin.
    pub fn pick(&self, LogPosition(floor): LogPosition) -> Option<&Replica> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.members[(start + i) % n])
            .find(|r| r.serves(floor, self.max_lag_ms))
    }

    /// A read served by the primary.
    pub fn primary_served(&self) {
        self.primary_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Checks the primary and every replica each `CHECK_EVERY`, in a task
    /// that ends when the returned handle is dropped; no task without
    /// replicas.
    pub fn spawn_checks(self: &Arc<Self>, primary: Arc<Shared>) -> Option<Checks> {
        if self.is_empty() {
            return None;
        }
        let replicas = self.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(CHECK_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                replicas.check(&primary).await;
            }
        });
        Some(Checks(task.abort_handle()))
    }

    /// One round of checks: the primary's position, then every replica.
    async fn check(&self, primary: &Shared) {
        let now = self.epoch.elapsed().as_millis() as u64;
        let sampled = primary
            .query_within(CHECK_LIMIT, "SELECT pg_current_wal_lsn()", &[])
            .await
            .ok()
            .and_then(|rows| rows.first().and_then(|r| r.try_get::<_, PgLsn>(0).ok()));
        if let Some(position) = sampled {
            let mut samples = self.samples.lock().expect("not poisoned");
            samples.push_back((now, u64::from(position)));
            while samples.front().is_some_and(|(t, _)| now - t > self.keep_ms) {
                samples.pop_front();
            }
        }
        let checks = self
            .members
            .iter()
            .map(|replica| self.check_one(replica, now));
        futures_util::future::join_all(checks).await;
    }

    async fn check_one(&self, replica: &Replica, now: u64) {
        let sql = "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()";
        let answer = replica.conn.query_within(CHECK_LIMIT, sql, &[]).await;
        let row = match answer.as_deref() {
            Ok([row]) => row,
            Ok(_) => return replica.set_unusable("no answer to the check"),
            Err(_) => return replica.set_unusable("down"),
        };
        let in_recovery: bool = row.get(0);
        let replayed: Option<PgLsn> = row.get(1);
        let Some(replayed) = replayed.filter(|_| in_recovery) else {
            return replica.set_unusable("not in recovery (a primary, or promoted)");
        };
        let replayed = u64::from(replayed);
        replica.replayed.store(replayed, Ordering::Relaxed);
        replica
            .lag_ms
            .store(self.lag_ms(now, replayed), Ordering::Relaxed);
        if !replica.usable.swap(true, Ordering::Relaxed) {
            tracing::info!(replica = %replica.name, "replica serves reads");
        }
    }

    /// How long ago the primary stood at `replayed`, by the samples kept:
    /// the newest sample the replica has replayed all of.
    fn lag_ms(&self, now: u64, replayed: u64) -> u64 {
        let samples = self.samples.lock().expect("not poisoned");
        match samples.iter().rev().find(|(_, p)| *p <= replayed) {
            Some((t, _)) => now.saturating_sub(*t),
            // Behind every sample kept: at least as old as the oldest.
            None => samples
                .front()
                .map_or(UNKNOWN, |(t, _)| now.saturating_sub(*t) + 1),
        }
    }

    pub fn stats(&self) -> ReadStats {
        ReadStats {
            primary: self.primary_reads.load(Ordering::Relaxed),
            replicas: self
                .members
                .iter()
                .map(|r| {
                    let lag = r.lag_ms.load(Ordering::Relaxed);
                    ReplicaStats {
                        name: r.name.clone(),
                        reads: r.reads.load(Ordering::Relaxed),
                        usable: r.usable.load(Ordering::Relaxed),
                        lag: (lag != UNKNOWN).then(|| Duration::from_millis(lag)),
                    }
                })
                .collect(),
        }
    }
}

/// The replica checks' task, stopped when this is dropped (with the store).
pub struct Checks(AbortHandle);

impl Drop for Checks {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_samples(samples: &[(u64, u64)]) -> Replicas {
        let replicas = Replicas::new(Vec::new(), Duration::from_secs(1));
        replicas
            .samples
            .lock()
            .unwrap()
            .extend(samples.iter().copied());
        replicas
    }

    #[test]
    fn lag_is_how_long_ago_the_primary_stood_where_the_replica_stands() {
        let r = with_samples(&[(1_000, 10), (1_100, 20), (1_200, 30)]);
        assert_eq!(r.lag_ms(1_200, 30), 0, "caught up with this check");
        assert_eq!(r.lag_ms(1_200, 45), 0, "ahead of the sample");
        assert_eq!(r.lag_ms(1_200, 25), 100);
        assert_eq!(r.lag_ms(1_200, 10), 200);
        assert!(r.lag_ms(1_200, 5) > 200, "behind every sample kept");
        assert_eq!(with_samples(&[]).lag_ms(1_200, 5), UNKNOWN);
        // The primary out of reach: no new sample, so lag grows with time.
        assert_eq!(r.lag_ms(3_200, 30), 2_000);
    }
}
