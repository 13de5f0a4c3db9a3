//! Writes, committed in groups by one thread: group commit, as PostgreSQL
//! does it, over SQLite's single writer.
//!
//! Every write is a job sent to the writer thread. The thread takes the
//! first job waiting, opens a transaction (`BEGIN IMMEDIATE`), runs that job
//! and every other job already waiting (up to [`MAX_BATCH`] jobs or
//! [`MAX_BATCH_TIME`]) each in a savepoint of its own, and commits them
//! together: one flush of the log for the whole batch under
//! `synchronous=FULL`. While one batch flushes, the next gathers, so batches
//! grow with concurrency and a quiet service still commits each write at
//! once (no timer).
//!
//! A job that fails (a taken e-mail, a missing user) is rolled back to its
//! savepoint and answered at once; its neighbours go on. A job that
//! succeeds is answered only after its batch's `COMMIT` returned, flush
//! included: acknowledged means on disk, as the synchronous setting says.
//! When the batch's transaction itself fails (SQLite rolled it back, a
//! savepoint could not be ended, the commit failed), every job kept in it
//! is answered with that failure, and none with success.
//!
//! A unit of work that spans several calls (an idempotent create) is a
//! session (`session.rs`): one job that holds the writer while it receives
//! its steps, and ends with its batch.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};
use tokio::sync::oneshot;

use super::session::{self, Session};
use crate::storage::health::Counted;
use crate::storage::{ConnectionStats, NotRun, StoreError, StoreResult, Unsettled};

/// Most jobs in one batch.
const MAX_BATCH: usize = 512;

/// How long a batch keeps taking in jobs once it holds the write lock: its
/// first job's answer waits for the whole batch. Far more than 512 single
/// writes take; it bounds batches that gather slow units of work.
const MAX_BATCH_TIME: Duration = Duration::from_millis(100);

/// The metric of the jobs each commit carried (a histogram).
pub const BATCH_SIZE_METRIC: &str = "orderly_sqlite_commit_batch_size";

/// What a job answers once its batch's end is known.
pub(super) type Reply = Box<dyn FnOnce(StoreResult<()>) + Send>;

/// A piece of work for the writer thread. It gets the connection (inside
/// the batch's transaction and its own savepoint), or why it cannot run,
/// and the number of its batch; it returns what to answer after the
/// commit, or `None` to have its savepoint rolled back (it has answered
/// already).
type Job = Box<dyn FnOnce(Result<&Connection, StoreError>, u64) -> Option<Reply> + Send>;

pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
    state: Arc<State>,
    /// How long a job may wait behind earlier batches before 503.
    wait_limit: Duration,
}

#[derive(Default)]
struct State {
    queued: AtomicUsize,
    /// 1 while a batch is open.
    writing: AtomicUsize,
    /// Batches begun so far; the number of the latest.
    batches: AtomicU64,
}

impl Writer {
    /// Hands `conn` to a new writer thread, which ends when the last
    /// `Writer` handle is dropped and the jobs sent before are done.
    pub(super) fn start(conn: Connection, wait_limit: Duration) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let state = Arc::new(State::default());
        let shared = state.clone();
        std::thread::Builder::new()
            .name("orderly-sqlite-writer".into())
            .spawn(move || write_batches(&conn, &queue, &shared))?;
        Ok(Self {
            jobs,
            state,
            wait_limit,
        })
    }

    /// Runs `work` in the next batch, in a savepoint of its own; its value
    /// once the batch is committed, or its error at once (nothing of it
    /// is kept). A request that is gone before its turn runs nothing.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (answer, answered) = oneshot::channel();
        let waited = self.waiting();
        self.send(Box::new(move |conn, batch| {
            let (conn, answer) = waited.turn(conn, answer, batch)?;
            match work(conn) {
                Ok(value) => Some(Box::new(move |committed: StoreResult<()>| {
                    let _ = answer.send(committed.map(|()| value));
                })),
                Err(e) => {
                    let _ = answer.send(Err(e));
                    None
                }
            }
        }))?;
        answered.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Starts a unit of work whose steps come one by one; it holds the
    /// writer from its turn until it ends.
    pub(super) fn session(&self) -> StoreResult<Session> {
        let (session, inbox, started) = Session::new();
        let waited = self.waiting();
        self.send(Box::new(move |conn, batch| {
            let (conn, started) = waited.turn(conn, started, batch)?;
            let _ = started.send(Ok(()));
            session::serve(conn, &inbox)
        }))?;
        Ok(session)
    }

    fn waiting(&self) -> Waiting {
        Waiting {
            since: Instant::now(),
            batch_then: self.state.batches.load(Ordering::Relaxed),
            limit: self.wait_limit,
        }
    }

    fn send(&self, job: Job) -> StoreResult<()> {
        self.state.queued.fetch_add(1, Ordering::Relaxed);
        self.jobs.send(job).map_err(|_| {
            self.state.queued.fetch_sub(1, Ordering::Relaxed);
            stopped()
        })
    }

    pub(super) fn stats(&self) -> ConnectionStats {
        let writing = self.state.writing.load(Ordering::Relaxed);
        ConnectionStats {
            pool: "sqlite_writer",
            max: 1,
            in_use: writing,
            idle: 1 - writing,
            waiting: self.state.queued.load(Ordering::Relaxed),
        }
    }
}

/// When a job was sent, and how long it may wait behind earlier batches.
struct Waiting {
    since: Instant,
    /// The batch running (or last run) when it was sent.
    batch_then: u64,
    limit: Duration,
}

impl Waiting {
    /// The connection and the job's answer, if the job is still wanted and
    /// in time; otherwise `None`, the refusal answered (if anyone waits). A job that
    /// joins the batch running when it was sent, or the next one, waited
    /// behind no whole batch: it always runs, whatever the limit (so `0`
    /// means "never wait behind another batch"). One that waited through
    /// a whole batch runs if it is still within the limit.
    fn turn<'c, T>(
        &self,
        conn: Result<&'c Connection, StoreError>,
        answer: oneshot::Sender<StoreResult<T>>,
        batch: u64,
    ) -> Option<(&'c Connection, oneshot::Sender<StoreResult<T>>)> {
        let refused = match conn {
            // The request was cancelled while it waited: nothing to run for.
            Ok(_) if answer.is_closed() => return None,
            Ok(_) if batch > self.batch_then + 1 && self.since.elapsed() > self.limit => {
                StoreError::unavailable(
                    Unsettled::NotRun(NotRun::Refused),
                    "waited longer than --pool-timeout-ms for its turn to write",
                )
            }
            Ok(conn) => return Some((conn, answer)),
            Err(e) => e,
        };
        let _ = answer.send(Err(refused));
        None
    }
}

pub(super) fn stopped() -> StoreError {
    StoreError::unavailable(
        Unsettled::NotRun(NotRun::Refused),
        "the SQLite writer did not answer",
    )
}

/// The writer thread: one batch after another until every handle is gone,
/// or until a transaction cannot be ended (the connection is then closed,
/// which releases the file's write lock, and every later write is refused).
fn write_batches(conn: &Connection, queue: &mpsc::Receiver<Job>, state: &State) {
    let take = |job| {
        state.queued.fetch_sub(1, Ordering::Relaxed);
        job
    };
    while let Ok(first) = queue.recv().map(take) {
        let _writing = Counted::enter(&state.writing);
        let batch = state.batches.fetch_add(1, Ordering::Relaxed) + 1;
        if let Err(e) = run(conn, "BEGIN IMMEDIATE") {
            // Another process held the lock past the busy timeout: the jobs
            // waiting now are refused rather than made to wait again.
            for job in std::iter::once(first).chain(queue.try_iter().map(take)) {
                job(Err(copied(&e)), batch);
            }
            continue;
        }
        let began = Instant::now();
        let mut replies = Vec::new();
        let mut ran = 0;
        let mut next = Some(first);
        let mut broken = None;
        while let Some(job) = next {
            ran += 1;
            let (reply, usable) = run_in_savepoint(conn, job, batch);
            replies.extend(reply);
            if let Err(e) = usable {
                broken = Some(e);
                break;
            }
            let room = ran < MAX_BATCH && began.elapsed() < MAX_BATCH_TIME;
            next = room.then(|| queue.try_recv().ok().map(take)).flatten();
        }
        let ended = match broken {
            None => commit(conn),
            Some(e) => Err(abandon(conn, e)),
        };
        if ended.is_ok() {
            metrics::histogram!(BATCH_SIZE_METRIC).record(replies.len() as f64);
        }
        for reply in replies {
            reply(ended.as_ref().map(|_| ()).map_err(Failed::error));
        }
        if !conn.is_autocommit() {
            tracing::error!(
                "the SQLite writer could not end a transaction; it stops, and every write is refused (503) until orderly is restarted"
            );
            return;
        }
    }
}

/// Runs `job` in a savepoint, kept if it returns a reply, rolled back if
/// not. Its reply, if still to be sent after the commit, and whether the
/// batch's transaction is still usable.
fn run_in_savepoint(
    conn: &Connection,
    job: Job,
    batch: u64,
) -> (Option<Reply>, Result<(), rusqlite::Error>) {
    if let Err(e) = run(conn, "SAVEPOINT job") {
        job(Err(copied(&e)), batch);
        return (None, usable(conn));
    }
    // A job that panics (a bug) loses its own write, not the writer.
    let reply = match std::panic::catch_unwind(AssertUnwindSafe(|| job(Ok(conn), batch))) {
        Ok(reply) => reply,
        Err(_) => {
            tracing::error!("a write panicked on the SQLite writer; it was rolled back");
            None
        }
    };
    if let Err(e) = usable(conn) {
        return (reply, Err(e));
    }
    let ended = match reply.is_some() {
        true => run(conn, "RELEASE job"),
        false => run(conn, "ROLLBACK TO job").and_then(|()| run(conn, "RELEASE job")),
    };
    // A savepoint that cannot be ended leaves the job's writes, or their
    // undoing, in doubt: the whole batch is given up.
    (reply, ended)
}

/// An error if SQLite rolled the batch's transaction back by itself (a full
/// disk, an I/O error, a trigger's `RAISE(ROLLBACK)`).
fn usable(conn: &Connection) -> Result<(), rusqlite::Error> {
    match conn.is_autocommit() {
        false => Ok(()),
        true => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
            Some("SQLite rolled back the batch this write was in".into()),
        )),
    }
}

/// How a batch ended when it did not commit, for each of its jobs.
struct Failed {
    error: rusqlite::Error,
    outcome: Unsettled,
}

impl Failed {
    fn error(&self) -> StoreError {
        StoreError::unavailable(self.outcome, self.error.to_string())
    }
}

/// Commits the batch. A failed commit is rolled back; it ran not at all
/// unless the failure was an I/O error (the commit's record may be in the
/// log already) or the rollback failed too.
fn commit(conn: &Connection) -> Result<(), Failed> {
    let Err(error) = run(conn, "COMMIT") else {
        return Ok(());
    };
    let rolled_back = conn.is_autocommit() || run(conn, "ROLLBACK").is_ok();
    let io = error.sqlite_error_code() == Some(ErrorCode::SystemIoFailure);
    let outcome = match rolled_back && !io {
        true => Unsettled::NotRun(NotRun::Refused),
        false => Unsettled::MayHaveRun,
    };
    Err(Failed { error, outcome })
}

/// Rolls back a batch that cannot go on.
fn abandon(conn: &Connection, error: rusqlite::Error) -> Failed {
    let rolled_back = conn.is_autocommit() || run(conn, "ROLLBACK").is_ok();
    let outcome = match rolled_back {
        true => Unsettled::NotRun(NotRun::Refused),
        false => Unsettled::MayHaveRun,
    };
    Failed { error, outcome }
}

/// Runs one statement with no parameters, prepared once.
pub(super) fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// A storage error for each of the jobs one SQLite error failed.
fn copied(e: &rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(failure, message) => {
            rusqlite::Error::SqliteFailure(*failure, message.clone()).into()
        }
        other => StoreError::unavailable(Unsettled::MayHaveRun, other.to_string()),
    }
}

#[cfg(test)]
mod tests;
