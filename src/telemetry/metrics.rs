//! Prometheus metrics, through the `metrics` facade and its Prometheus
//! exporter. Names, labels and meanings are listed in docs/operations.md.
//!
//! The recorder is global to the process and installed once, on first use:
//! the tests build many apps in one process, and all of them record into
//! the same recorder.

use std::collections::{HashMap, HashSet};
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::storage::{ConnectionStats, ReadStats, SessionStoreFailures};

pub const HTTP_REQUESTS: &str = "orderly_http_requests_total";
pub const HTTP_DURATION: &str = "orderly_http_request_duration_seconds";
pub const IDEMPOTENT_REQUESTS: &str = "orderly_idempotent_requests_total";
pub const DB_CONNECTIONS: &str = "orderly_db_connections";
pub const DB_CONNECTIONS_MAX: &str = "orderly_db_connections_max";
pub const DB_WAITING: &str = "orderly_db_waiting";
pub const DB_READS: &str = "orderly_db_reads_total";
pub const DB_REPLICA_LAG: &str = "orderly_db_replica_lag_seconds";
pub const DB_REPLICA_USABLE: &str = "orderly_db_replica_usable";
pub const SESSION_STORE_FAILURES: &str = "orderly_session_store_failures_total";
pub const LOG_LINES_DROPPED: &str = "orderly_log_lines_dropped_total";
pub const BUILD_INFO: &str = "orderly_build_info";
pub const WEBHOOK_DELIVERIES: &str = "orderly_webhook_deliveries_total";
pub const WEBHOOK_DURATION: &str = "orderly_webhook_attempt_duration_seconds";
pub const WEBHOOK_OLDEST_PENDING: &str = "orderly_webhook_oldest_pending_seconds";

/// Latency buckets, in seconds: from a cached read (under a millisecond)
/// to the default request timeout.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Writes per SQLite commit: powers of two up to the writer's largest batch.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// How often histogram samples are folded into their buckets. Until then
/// each sample waits in memory (8 bytes; 45,000 requests a second keep
/// 360 KB waiting per second), so this stays short.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// The process's recorder, installed on first call.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), DURATION_BUCKETS)
            .expect("the buckets are not empty")
            .set_buckets_for_metric(Matcher::Full(WEBHOOK_DURATION.into()), DURATION_BUCKETS)
            .expect("the buckets are not empty")
            .set_buckets_for_metric(
                Matcher::Full(crate::storage::sqlite::BATCH_SIZE_METRIC.into()),
                BATCH_BUCKETS,
            )
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            // An embedding program installed its own recorder first: ours
            // then renders nothing but what is set at scrape time.
            tracing::warn!("a metrics recorder was already installed; /metrics shows less");
        }
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("orderly-metrics".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            })
            .expect("a thread for metrics upkeep");
        metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

/// The exposition text: what was recorded, plus what storage counted,
/// read now.
pub fn render(
    connections: &[ConnectionStats],
    reads: &ReadStats,
    session_store: Option<SessionStoreFailures>,
) -> String {
    let handle = handle();
    record_reads(reads);
    if let Some(failed) = session_store {
        metrics::counter!(SESSION_STORE_FAILURES, "op" => "read").absolute(failed.reads);
        metrics::counter!(SESSION_STORE_FAILURES, "op" => "write").absolute(failed.writes);
    }
    for pool in connections {
        let name = pool.pool;
        metrics::gauge!(DB_CONNECTIONS_MAX, "pool" => name).set(pool.max as f64);
        metrics::gauge!(DB_CONNECTIONS, "pool" => name, "state" => "in_use")
            .set(pool.in_use as f64);
        metrics::gauge!(DB_CONNECTIONS, "pool" => name, "state" => "idle").set(pool.idle as f64);
        metrics::gauge!(DB_WAITING, "pool" => name).set(pool.waiting as f64);
    }
    metrics::counter!(LOG_LINES_DROPPED).absolute(super::logging::dropped_log_lines());
    handle.run_upkeep();
    handle.render()
}

/// Which target served reads, and each replica's state. Counted by
/// storage as it goes, copied here at scrape time.
fn record_reads(reads: &ReadStats) {
    metrics::counter!(DB_READS, "target" => "primary").absolute(reads.primary);
    for replica in &reads.replicas {
        let name = replica.name.clone();
        metrics::counter!(DB_READS, "target" => name.clone()).absolute(replica.reads);
        metrics::gauge!(DB_REPLICA_USABLE, "replica" => name.clone())
            .set(f64::from(u8::from(replica.usable)));
        // NaN while unknown (down, never caught up with a sample kept).
        let lag = replica.lag.map_or(f64::NAN, |lag| lag.as_secs_f64());
        metrics::gauge!(DB_REPLICA_LAG, "replica" => name).set(lag);
    }
}

/// Counts one answered request and its latency.
pub fn record_request(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    let (requests, latency) = request_handles(method, route, status);
    requests.increment(1);
    latency.record(elapsed.as_secs_f64());
}

/// The counter and histogram of one (method, route, status), made on first
/// use and kept: building their keys and looking them up on every request
/// cost about 1,600 instructions of the 60,000 a read takes (callgrind).
fn request_handles(
    method: &'static str,
    route: &str,
    status: u16,
) -> (metrics::Counter, metrics::Histogram) {
    type Handles =
        HashMap<(&'static str, &'static str, u16), (metrics::Counter, metrics::Histogram)>;
    static HANDLES: OnceLock<RwLock<Handles>> = OnceLock::new();
    let handles = HANDLES.get_or_init(RwLock::default);
    let route = intern(route);
    let key = (method, route, status);
    if let Some(found) = handles.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return found.clone();
    }
    let labels = [
        ("method", metrics::SharedString::const_str(method)),
        ("route", metrics::SharedString::const_str(route)),
        ("status", status.to_string().into()),
    ];
    let made = (
        metrics::counter!(HTTP_REQUESTS, &labels),
        metrics::histogram!(HTTP_DURATION, &labels),
    );
    handles
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_insert(made)
        .clone()
}

/// `route` as a `&'static str`. Routes are the router's templates (and one
/// label for every unmatched path), a fixed handful, so keeping each one
/// for the life of the process is bounded.
fn intern(route: &str) -> &'static str {
    static ROUTES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(RwLock::default);
    if let Some(known) = routes.read().unwrap_or_else(|e| e.into_inner()).get(route) {
        return known;
    }
    let mut routes = routes.write().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = routes.get(route) {
        return known;
    }
    let kept: &'static str = Box::leak(route.to_owned().into_boxed_str());
    routes.insert(kept);
    kept
}

/// Counts one request that carried an `Idempotency-Key`, by how it ended.
pub fn record_idempotent(outcome: &'static str) {
    metrics::counter!(IDEMPOTENT_REQUESTS, "outcome" => outcome).increment(1);
}
