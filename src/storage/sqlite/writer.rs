//! Writes, committed in groups by one thread: group commit, as PostgreSQL
//! does it, over SQLite's single writer.
//!
//! Every write is a job sent to the writer thread. The thread takes the
//! first job waiting, opens a transaction (`BEGIN IMMEDIATE`), runs that job
//! and every other job already waiting (up to [`MAX_BATCH`]) each in a
//! savepoint of its own, and commits them together: one flush of the log
//! for the whole batch under `synchronous=FULL`. While one batch flushes,
//! the next gathers, so batches grow with concurrency and a quiet service
//! still commits each write at once (no timer).
//!
//! A job that fails (a taken e-mail, a missing user) is rolled back to its
//! savepoint and answered at once; its neighbours go on. A job that
//! succeeds is answered only after its batch's `COMMIT` returned, flush
//! included: acknowledged means on disk, as the synchronous setting says.
//!
//! A unit of work that spans several calls (an idempotent create: claim
//! the key, write, record the response, commit) is a [`Session`]: one job
//! that holds the writer while it receives its steps, within its savepoint,
//! and ends with its batch.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::storage::{ConnectionStats, NotRun, StoreError, StoreResult, Unsettled};

/// Most jobs in one batch: a bound on how long the first of them waits.
const MAX_BATCH: usize = 512;

/// The metric of the jobs each commit carried (a histogram).
pub const BATCH_SIZE_METRIC: &str = "orderly_sqlite_commit_batch_size";

/// What a job answers once its batch's end is known.
type Reply = Box<dyn FnOnce(StoreResult<()>) + Send>;

/// A piece of work for the writer thread. It gets the connection (inside
/// the batch's transaction and its own savepoint), or why it cannot run,
/// and returns what to answer after the commit, or `None` to have its
/// savepoint rolled back (it has answered already).
type Job = Box<dyn FnOnce(Result<&Connection, StoreError>) -> Option<Reply> + Send>;

pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
    state: Arc<State>,
    /// How long a job may wait for its turn before 503, and a session
    /// between two of its steps before it is rolled back.
    wait_limit: Duration,
}

#[derive(Default)]
struct State {
    queued: AtomicUsize,
    writing: AtomicBool,
}

impl Writer {
    /// Hands `conn` to a new writer thread, which ends when the last
    /// `Writer` handle is dropped.
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
        let deadline = Instant::now() + self.wait_limit;
        self.send(Box::new(move |conn| {
            let conn = match turn(conn, &answer, deadline) {
                Ok(conn) => conn,
                Err(refused) => {
                    refused.map(|e| answer.send(Err(e)));
                    return None;
                }
            };
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
    /// writer from its first step until it ends.
    pub(super) fn session(&self) -> StoreResult<Session> {
        let (steps, inbox) = mpsc::channel();
        let (started, starting) = oneshot::channel();
        let deadline = Instant::now() + self.wait_limit;
        let idle_limit = self.wait_limit;
        self.send(Box::new(move |conn| {
            let conn = match turn(conn, &started, deadline) {
                Ok(conn) => conn,
                Err(refused) => {
                    refused.map(|e| started.send(Err(e)));
                    return None;
                }
            };
            let _ = started.send(Ok(()));
            serve_session(conn, &inbox, idle_limit)
        }))?;
        Ok(Session {
            steps,
            starting: Some(starting),
        })
    }

    fn send(&self, job: Job) -> StoreResult<()> {
        self.state.queued.fetch_add(1, Ordering::Relaxed);
        self.jobs.send(job).map_err(|_| {
            self.state.queued.fetch_sub(1, Ordering::Relaxed);
            stopped()
        })
    }

    pub(super) fn stats(&self) -> ConnectionStats {
        let writing = usize::from(self.state.writing.load(Ordering::Relaxed));
        ConnectionStats {
            pool: "sqlite_writer",
            max: 1,
            in_use: writing,
            idle: 1 - writing,
            waiting: self.state.queued.load(Ordering::Relaxed),
        }
    }
}

/// The connection, if this job is still wanted and in time; otherwise the
/// error to answer (`None` when nobody waits for one).
fn turn<'c, T>(
    conn: Result<&'c Connection, StoreError>,
    answer: &oneshot::Sender<StoreResult<T>>,
    deadline: Instant,
) -> Result<&'c Connection, Option<StoreError>> {
    let conn = conn.map_err(Some)?;
    if answer.is_closed() {
        // The request was cancelled while it waited: nothing to run for.
        return Err(None);
    }
    if Instant::now() > deadline {
        return Err(Some(StoreError::unavailable(
            Unsettled::NotRun(NotRun::Refused),
            "waited longer than --pool-timeout-ms for its turn to write",
        )));
    }
    Ok(conn)
}

fn stopped() -> StoreError {
    StoreError::unavailable(
        Unsettled::NotRun(NotRun::Refused),
        "the SQLite writer did not answer",
    )
}

/// The writer thread: one batch after another until every handle is gone.
fn write_batches(conn: &Connection, queue: &mpsc::Receiver<Job>, state: &State) {
    let take = |job| {
        state.queued.fetch_sub(1, Ordering::Relaxed);
        job
    };
    while let Ok(first) = queue.recv().map(take) {
        let _writing = Raised::on(&state.writing);
        if let Err(e) = run(conn, "BEGIN IMMEDIATE") {
            // Another process held the lock past the busy timeout: the jobs
            // waiting now are refused rather than made to wait again.
            for job in std::iter::once(first).chain(queue.try_iter().map(take)) {
                job(Err(copy_of(&e)));
            }
            continue;
        }
        let mut replies = Vec::new();
        let mut ran = 0;
        let mut next = Some(first);
        let mut lost = None;
        while let Some(job) = next {
            ran += 1;
            replies.extend(run_in_savepoint(conn, job));
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back (a full disk,
                // an I/O error): none of the batch is kept.
                lost = Some(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("SQLite rolled back the batch this write was in".into()),
                ));
                break;
            }
            next = match ran < MAX_BATCH {
                true => queue.try_recv().ok().map(take),
                false => None,
            };
        }
        let committed = match lost {
            Some(why) => Err(why),
            None => run(conn, "COMMIT").inspect_err(|_| {
                let _ = conn.execute_batch("ROLLBACK");
            }),
        };
        metrics::histogram!(BATCH_SIZE_METRIC).record(replies.len() as f64);
        for reply in replies {
            reply(committed.as_ref().map(|_| ()).map_err(copy_of));
        }
    }
}

/// Runs `job` in a savepoint, kept if it returns a reply, rolled back if
/// not; its reply, if it is still to be sent after the commit.
fn run_in_savepoint(conn: &Connection, job: Job) -> Option<Reply> {
    if let Err(e) = run(conn, "SAVEPOINT job") {
        job(Err(copy_of(&e)));
        return None;
    }
    // A job that panics (a bug) loses its own write, not the writer.
    let reply = match std::panic::catch_unwind(AssertUnwindSafe(|| job(Ok(conn)))) {
        Ok(reply) => reply,
        Err(_) => {
            tracing::error!("a write panicked on the SQLite writer; it was rolled back");
            None
        }
    };
    if conn.is_autocommit() {
        return reply;
    }
    let ended = match reply.is_some() {
        true => run(conn, "RELEASE job"),
        false => run(conn, "ROLLBACK TO job").and_then(|()| run(conn, "RELEASE job")),
    };
    match (ended, reply) {
        (Ok(()), reply) => reply,
        (Err(e), Some(reply)) => {
            reply(Err(copy_of(&e)));
            None
        }
        (Err(_), None) => None,
    }
}

/// Runs one statement with no parameters, prepared once.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// A storage error for each of the jobs one SQLite error failed.
fn copy_of(e: &rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(failure, message) => {
            rusqlite::Error::SqliteFailure(*failure, message.clone()).into()
        }
        other => StoreError::unavailable(Unsettled::MayHaveRun, other.to_string()),
    }
}

/// Sets a flag until dropped.
struct Raised<'a>(&'a AtomicBool);

impl<'a> Raised<'a> {
    fn on(flag: &'a AtomicBool) -> Self {
        flag.store(true, Ordering::Relaxed);
        Self(flag)
    }
}

impl Drop for Raised<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// One step of a session: a statement, or its end.
enum Step {
    Run(Box<dyn FnOnce(&Connection) + Send>),
    Commit(oneshot::Sender<StoreResult<()>>),
    Rollback(oneshot::Sender<()>),
}

/// Serves a session's steps until it ends: committed with the batch,
/// rolled back, dropped by its request, or silent past `idle_limit`.
fn serve_session(
    conn: &Connection,
    inbox: &mpsc::Receiver<Step>,
    idle_limit: Duration,
) -> Option<Reply> {
    loop {
        match inbox.recv_timeout(idle_limit) {
            Ok(Step::Run(step)) => {
                step(conn);
                if conn.is_autocommit() {
                    // SQLite rolled the batch back: nothing more may run
                    // outside it.
                    return None;
                }
            }
            Ok(Step::Commit(done)) => {
                return Some(Box::new(move |committed| {
                    let _ = done.send(committed);
                }))
            }
            Ok(Step::Rollback(done)) => {
                let _ = done.send(());
                return None;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    limit = ?idle_limit,
                    "a unit of work held the SQLite writer with nothing to do; it was rolled back"
                );
                return None;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// A unit of work on the writer: steps in order, then commit or rollback.
/// Dropped unended (a cancelled request), it is rolled back.
pub(super) struct Session {
    steps: mpsc::Sender<Step>,
    starting: Option<oneshot::Receiver<StoreResult<()>>>,
}

impl Session {
    /// Runs `step` inside the session; a step that fails leaves nothing
    /// behind (its own savepoint), and the session goes on.
    pub(super) async fn run<T: Send + 'static>(
        &mut self,
        step: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (answer, answered) = oneshot::channel();
        self.send(Step::Run(Box::new(move |conn| {
            let _ = answer.send(in_savepoint(conn, step));
        })))?;
        self.started().await?;
        answered.await.unwrap_or_else(|_| Err(ended()))
    }

    /// Commits with the batch; returns once the batch is on disk.
    pub(super) async fn commit(mut self) -> StoreResult<()> {
        let (done, committed) = oneshot::channel();
        self.send(Step::Commit(done))?;
        self.started().await?;
        committed.await.unwrap_or_else(|_| Err(ended()))
    }

    /// Rolls back everything the session wrote.
    pub(super) async fn rollback(mut self) -> StoreResult<()> {
        let (done, rolled_back) = oneshot::channel();
        self.send(Step::Rollback(done))?;
        self.started().await?;
        rolled_back.await.map_err(|_| ended())
    }

    fn send(&self, step: Step) -> StoreResult<()> {
        self.steps.send(step).map_err(|_| ended())
    }

    /// Waits for the writer to take the session up, once.
    async fn started(&mut self) -> StoreResult<()> {
        match self.starting.take() {
            Some(starting) => starting.await.unwrap_or_else(|_| Err(stopped())),
            None => Ok(()),
        }
    }
}

/// The session ended under its request: the writer stopped or gave up on it.
fn ended() -> StoreError {
    StoreError::unavailable(
        Unsettled::NotRun(NotRun::Refused),
        "the unit of work was rolled back by the SQLite writer",
    )
}

/// Runs `step` in a nested savepoint, so that a failed step keeps none of
/// its statements.
fn in_savepoint<T>(
    conn: &Connection,
    step: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    run(conn, "SAVEPOINT step")?;
    let result = step(conn);
    if conn.is_autocommit() {
        return result;
    }
    match &result {
        Ok(_) => run(conn, "RELEASE step")?,
        Err(_) => {
            run(conn, "ROLLBACK TO step")?;
            run(conn, "RELEASE step")?;
        }
    }
    result
}
