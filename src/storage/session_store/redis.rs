//! The session store on Redis. One key per caller, `orderly:floor:<caller>`, whose value is
//! the primary's WAL position after the caller's last write, as 16 hex
//! digits (so that positions compare as strings in the raising script), and
//! which expires `EXPIRE_AFTER_LAG` after the lag bound: by then every
//! replica allowed to serve reads has replayed that write anyway.
//!
//! Every call waits at most `timeout`. The connection is made in the
//! background and remade by the client after a failure; until it answers,
//! reads go to the primary (`Err` here) and writes keep only the
//! instance's own floor. Failures are counted (`failures`) and logged once
//! per outage.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::{read_position, SessionStore, SessionStoreFailures, Unanswered};
use crate::storage::LogPosition;

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

#[derive(Clone)]
pub struct RedisSessionStore(Arc<Inner>);

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
    read_failures: AtomicU64,
    write_failures: AtomicU64,
}

/// Which kind of call failed.
#[derive(Debug, Clone, Copy)]
enum Op {
    Read,
    Write,
}

impl RedisSessionStore {
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
            read_failures: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
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

    /// Runs `op` on the connection within the timeout, connecting first
    /// if no connection was made yet; counts and logs a failure.
    async fn call<T>(
        &self,
        op: Op,
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
        self.failed(op, &failure)
    }

    /// Counts a failure, and logs the first of an outage.
    fn failed<T>(&self, op: Op, why: &str) -> Result<T, Unanswered> {
        let inner = &self.0;
        match op {
            Op::Read => inner.read_failures.fetch_add(1, Ordering::Relaxed),
            Op::Write => inner.write_failures.fetch_add(1, Ordering::Relaxed),
        };
        if !inner.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(?op, error = %why, "the session store failed: reads go to the primary until it answers");
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

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn floor(&self, caller: i64) -> Result<LogPosition, Unanswered> {
        let key = key(caller);
        let kept: Option<String> = self
            .call(Op::Read, async |mut conn| {
                redis::cmd("GET").arg(&key).query_async(&mut conn).await
            })
            .await?;
        read_position(kept.as_deref()).or_else(|_| {
            self.failed(
                Op::Read,
                &format!("{key} holds {kept:?}, which is not a position"),
            )
        })
    }

    async fn raise(&self, caller: i64, LogPosition(to): LogPosition) -> Result<(), Unanswered> {
        let (key, value, expiry) = (key(caller), format!("{to:016x}"), self.0.expiry_ms);
        let script = &self.0.raise;
        self.call(Op::Write, async |mut conn| {
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

    fn failures(&self) -> SessionStoreFailures {
        SessionStoreFailures {
            reads: self.0.read_failures.load(Ordering::Relaxed),
            writes: self.0.write_failures.load(Ordering::Relaxed),
        }
    }
}

fn key(caller: i64) -> String {
    format!("orderly:floor:{caller}")
}
