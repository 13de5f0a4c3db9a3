//! Each caller's last write position, kept in Redis for every instance:
//! read-your-writes through any instance behind a load balancer (GitLab's
//! pattern). One key per caller, `orderly:floor:<caller>`, whose value is
//! the primary's WAL position after the caller's last write, as 16 hex
//! digits (so that positions compare as strings in the raising script), and
//! which expires `EXPIRE_AFTER_LAG` after the lag bound: by then every
//! replica allowed to serve reads has replayed that write anyway.
//!
//! Every call waits at most `timeout`. The connection is made in the
//! background and remade by the client after a failure; until it answers,
//! reads go to the primary (`Err` here) and writes keep only the
//! instance's own floor. Failures are counted in
//! `orderly_session_store_failures_total{op}` and logged once per outage.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::LogPosition;
use crate::telemetry::metrics;

/// How much longer than the lag bound a caller's position is kept.
const EXPIRE_AFTER_LAG: Duration = Duration::from_secs(30);

/// After a failed attempt to connect, how long calls fail at once instead
/// of each waiting for an attempt of its own.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Raises the caller's position, never lowers it (instances may store
/// their writes' positions out of order), and renews its expiry.
const RAISE: &str = r"
local current = redis.call('GET', KEYS[1])
if not current or ARGV[1] > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
";

/// The store's one failure: it did not answer in time, or answered with
/// an error. The caller falls back; the cause is logged here.
#[derive(Debug)]
pub struct Unanswered;

#[derive(Clone)]
pub struct SessionStore(Arc<Inner>);

struct Inner {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    timeout: Duration,
    expiry_ms: u64,
    raise: redis::Script,
    /// Whether the last call failed: log an outage once, and its end.
    failing: AtomicBool,
    /// When connecting last failed, in ms since `epoch` (0: never).
    connect_failed_at: AtomicU64,
    epoch: Instant,
}

impl SessionStore {
    /// A store at `url` (`redis://host:port/db`), which keeps positions for
    /// `max_lag` plus `EXPIRE_AFTER_LAG`. Only the URL is checked here:
    /// the service starts while Redis is down, and reads from the primary
    /// until it answers.
    pub fn new(url: &str, timeout: Duration, max_lag: Duration) -> anyhow::Result<Self> {
        let url = url.trim();
        if !(url.starts_with("redis://") || url.starts_with("redis+unix://")) {
            bail!("--session-store must be a redis:// URL, as in redis://127.0.0.1:6379/0");
        }
        let client =
            redis::Client::open(url).context("--session-store is not a valid Redis URL")?;
        Ok(Self(Arc::new(Inner {
            client,
            connection: OnceCell::new(),
            timeout,
            expiry_ms: (max_lag + EXPIRE_AFTER_LAG).as_millis() as u64,
            raise: redis::Script::new(RAISE),
            failing: AtomicBool::new(false),
            connect_failed_at: AtomicU64::new(0),
            epoch: Instant::now(),
        })))
    }

    /// Connects in the background now, so that the first requests find
    /// the connection made.
    pub fn connect_soon(&self) {
        let store = self.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(store.0.timeout * 10, store.connected()).await;
        });
    }

    /// The position `caller` last wrote at, through any instance; 0 if none
    /// is kept.
    pub async fn floor(&self, caller: i64) -> Result<LogPosition, Unanswered> {
        let key = key(caller);
        let value: Option<String> = self
            .call("read", async |mut conn| {
                redis::cmd("GET").arg(&key).query_async(&mut conn).await
            })
            .await?;
        Ok(value
            .and_then(|hex| u64::from_str_radix(&hex, 16).ok())
            .map_or(LogPosition(0), LogPosition))
    }

    /// Raises `caller`'s kept position to `to`.
    pub async fn raise(&self, caller: i64, LogPosition(to): LogPosition) -> Result<(), Unanswered> {
        let (key, value, expiry) = (key(caller), format!("{to:016x}"), self.0.expiry_ms);
        let script = &self.0.raise;
        self.call("write", async |mut conn| {
            script
                .key(&key)
                .arg(&value)
                .arg(expiry)
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await
        .map(drop)
    }

    /// Runs `op` on the connection within the timeout, connecting first
    /// if no connection was made yet; counts and logs a failure.
    async fn call<T>(
        &self,
        op: &'static str,
        run: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, Unanswered> {
        let inner = &self.0;
        let answered = tokio::time::timeout(inner.timeout, async {
            let conn = match inner.connection.get() {
                Some(conn) => conn.clone(),
                None => self.connected().await?,
            };
            run(conn).await
        })
        .await;
        let failure = match answered {
            Ok(Ok(value)) => {
                if inner.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the session store answers again");
                }
                return Ok(value);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", inner.timeout),
        };
        metrics::session_store_failed(op);
        if !inner.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(op, error = %failure, "the session store failed: reads go to the primary until it answers");
        }
        Err(Unanswered)
    }

    /// The connection, made now unless an attempt failed within
    /// `RECONNECT_AFTER`. Once made, the client remakes it by itself.
    async fn connected(&self) -> redis::RedisResult<ConnectionManager> {
        let inner = &self.0;
        let now = inner.epoch.elapsed().as_millis() as u64 + 1;
        let failed_at = inner.connect_failed_at.load(Ordering::Relaxed);
        if failed_at > 0 && now - failed_at < RECONNECT_AFTER.as_millis() as u64 {
            let why = "not connected; retrying shortly";
            return Err((redis::ErrorKind::IoError, why).into());
        }
        // Marked before the attempt: an attempt cut off by the timeout
        // counts as failed too.
        inner.connect_failed_at.store(now, Ordering::Relaxed);
        let conn = inner.connection.get_or_try_init(|| self.connect()).await?;
        inner.connect_failed_at.store(0, Ordering::Relaxed);
        Ok(conn.clone())
    }

    async fn connect(&self) -> redis::RedisResult<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.0.timeout)
            .set_response_timeout(self.0.timeout)
            .set_number_of_retries(1)
            .set_max_delay(1_000);
        ConnectionManager::new_with_config(self.0.client.clone(), config).await
    }
}

fn key(caller: i64) -> String {
    format!("orderly:floor:{caller}")
}
