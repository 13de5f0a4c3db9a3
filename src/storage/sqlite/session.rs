//! A unit of work on the writer thread (`writer.rs`): one job that holds
//! the writer while its steps arrive, each run in a savepoint of its own
//! inside the job's, and that ends with a commit (answered with its batch),
//! a rollback, or its request gone.

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::writer::{run, stopped, Reply};
use crate::storage::{NotRun, StoreError, StoreResult, Unsettled};

/// How long a session may hold the writer between two of its steps
/// before it is rolled back. Its steps come from one request, which sends
/// the next within microseconds; this bounds a request that stalls.
const IDLE_LIMIT: Duration = Duration::from_secs(5);

/// One step of a session: a statement, or its end.
pub(super) enum Step {
    /// Runs a statement; `false` if the session cannot go on.
    Run(Box<dyn FnOnce(&Connection) -> bool + Send>),
    Commit(oneshot::Sender<StoreResult<()>>),
    Rollback(oneshot::Sender<()>),
}

/// A unit of work on the writer: steps in order, then commit or rollback.
/// Dropped unended (a cancelled request), it is rolled back.
pub(super) struct Session {
    steps: mpsc::Sender<Step>,
    starting: Option<oneshot::Receiver<StoreResult<()>>>,
}

impl Session {
    /// A session, the inbox its job serves, and where the job says it began.
    pub(super) fn new() -> (Self, mpsc::Receiver<Step>, oneshot::Sender<StoreResult<()>>) {
        let (steps, inbox) = mpsc::channel();
        let (started, starting) = oneshot::channel();
        let session = Self {
            steps,
            starting: Some(starting),
        };
        (session, inbox, started)
    }

    /// Runs `step` inside the session; a step that fails leaves nothing
    /// behind (its own savepoint), and the session goes on.
    pub(super) async fn run<T: Send + 'static>(
        &mut self,
        step: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (answer, answered) = oneshot::channel();
        self.send(Step::Run(Box::new(move |conn| {
            let (result, goes_on) = in_savepoint(conn, step);
            let _ = answer.send(result);
            goes_on
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

/// Serves a session's steps until it ends: committed with the batch,
/// rolled back, dropped by its request, silent past [`IDLE_LIMIT`], or
/// stopped by a step that left it unusable.
pub(super) fn serve(conn: &Connection, inbox: &mpsc::Receiver<Step>) -> Option<Reply> {
    loop {
        match inbox.recv_timeout(IDLE_LIMIT) {
            Ok(Step::Run(step)) => {
                if !step(conn) {
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
                    limit = ?IDLE_LIMIT,
                    "a unit of work held the SQLite writer with nothing to do; it was rolled back"
                );
                return None;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
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
/// its statements; its result, and whether the session may go on (not if
/// SQLite rolled the batch back, or the savepoint could not be ended).
fn in_savepoint<T>(
    conn: &Connection,
    step: impl FnOnce(&Connection) -> StoreResult<T>,
) -> (StoreResult<T>, bool) {
    if let Err(e) = run(conn, "SAVEPOINT step") {
        return (Err(e.into()), !conn.is_autocommit());
    }
    let result = step(conn);
    if conn.is_autocommit() {
        return (result, false);
    }
    let ended = match &result {
        Ok(_) => run(conn, "RELEASE step"),
        Err(_) => run(conn, "ROLLBACK TO step").and_then(|()| run(conn, "RELEASE step")),
    };
    match ended {
        Ok(()) => (result, true),
        Err(e) => (Err(e.into()), false),
    }
}
