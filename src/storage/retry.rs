//! Where failed work is tried again, decided here and nowhere else.
//!
//! Two kinds of work are tried again: one statement on the shared
//! connections (`postgres::routing`), and a unit of work under an
//! idempotency key, made again from its claim (`app::idempotency`). Both
//! run through [`Retry::run`], and [`next_try`] decides, from what storage
//! knows of the failure (`Unsettled`) alone:
//!
//! | what is known | a statement | a unit of work under a key |
//! | --- | --- | --- |
//! | did not run: no server takes it (a failover) | again, every 100 ms | again, every 100 ms |
//! | did not run: its prepared statement was gone | again at once, once | again at once, once |
//! | did not run: refused (cancelled, busy) | no | no |
//! | may have run | no | again, every 100 ms: its claim finds it or makes it |
//! | committed, the standby did not confirm | no | no |
//! | committed, cut short by a shutdown | no | again, every 100 ms: its claim finds it or makes it |
//!
//! **One budget per request.** Waiting for a server is bounded by one
//! budget for the whole request (`--db-failover-wait-ms`), however the
//! layers nest (a statement tried again inside a unit of work that is
//! made again): the first failure worth waiting for starts it, and every
//! later wait in the same request draws on what is left ([`one_budget`],
//! which the HTTP layer puts around each request; a [`Retry::run`]
//! outside one makes its own). An attempt made while waiting is cut off
//! at the budget's end plus one statement time limit, and its caller gets
//! 503, as for any statement whose answer was lost. So a request waits for
//! a failover at most the budget plus one statement time limit.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::{NotRun, StoreError, Unavailable, Unsettled};

/// How often work that did not run for want of a server is tried again.
pub const RETRY_EVERY: Duration = Duration::from_millis(100);

/// What is being tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// One statement, on its own.
    Statement,
    /// A unit of work under an idempotency key, from its claim on.
    UnderKey,
}

/// When to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// At once, without drawing on the budget (a statement sent again in
    /// another form): once per [`Retry::run`].
    None,
    /// After `RETRY_EVERY`, within the request's budget.
    Wait,
}

/// Whether `work` that failed so is tried again, and when.
pub fn next_try(work: Work, outcome: Unsettled) -> Option<Pause> {
    match (outcome, work) {
        (Unsettled::NotRun(NotRun::NoServer), _) => Some(Pause::Wait),
        (Unsettled::NotRun(NotRun::StatementGone), _) => Some(Pause::None),
        // Under a key the claim settles what a lost answer left open: it
        // replays a commit that stands (once the synchronous standby has
        // it) and makes again one that does not; while the first run still
        // holds the key on a server that is still up, it stays unsettled.
        (Unsettled::CutShortByShutdown | Unsettled::MayHaveRun, Work::UnderKey) => {
            Some(Pause::Wait)
        }
        (Unsettled::NotRun(NotRun::Refused), _)
        | (Unsettled::MayHaveRun, Work::Statement)
        | (Unsettled::Unconfirmed, _)
        | (Unsettled::CutShortByShutdown, Work::Statement) => None,
    }
}

/// An error that may carry what storage knew of a failure.
pub trait Failure: From<StoreError> {
    fn unsettled(&self) -> Option<Unsettled>;
}

impl Failure for StoreError {
    fn unsettled(&self) -> Option<Unsettled> {
        StoreError::unsettled(self)
    }
}

tokio::task_local! {
    static BUDGET: Budget;
}

/// One request's allowance for waiting: when it ends, once started.
#[derive(Default)]
struct Budget {
    ends: Cell<Option<Instant>>,
}

/// Runs `request` with one budget for all the waiting its work may do.
pub async fn one_budget<F: Future>(request: F) -> F::Output {
    BUDGET.scope(Budget::default(), request).await
}

/// The retry policy of one backend: how long a request may wait for a
/// server in all, and how long one attempt may take past that.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    wait: Duration,
    attempt_limit: Duration,
}

impl Retry {
    /// Waits at most `wait` for a server per request; an attempt made
    /// meanwhile may take `attempt_limit` past it (one statement's limit).
    pub fn new(wait: Duration, attempt_limit: Duration) -> Self {
        Self {
            wait,
            attempt_limit,
        }
    }

    /// No waiting: a backend that has no failover (SQLite).
    pub fn none() -> Self {
        Self::new(Duration::ZERO, Duration::ZERO)
    }

    /// Runs `attempt`, and again as [`next_try`] says while the request's
    /// budget lasts.
    ///
    /// The first attempt runs on its own: its future is all this one holds
    /// on the way every request takes. What trying again needs (a second
    /// attempt's future, the timers, the budget) lives behind a box made
    /// only when a failure asks for it; kept inline, it made every
    /// statement's future several times larger, and each move of it a copy
    /// (42,000 more instructions per user created, callgrind).
    pub async fn run<T, E, F, Fut>(&self, work: Work, mut attempt: F) -> Result<T, E>
    where
        E: Failure,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if BUDGET.try_with(|_| ()).is_err() {
            // Outside a request's budget (start-up, a background task): one
            // of its own, around the first attempt too, so that layers
            // nested in it share it.
            return Box::pin(one_budget(self.run(work, attempt))).await;
        }
        let first = attempt().await;
        let retryable = match &first {
            Err(e) => e.unsettled().and_then(|outcome| next_try(work, outcome)),
            Ok(_) => None,
        };
        match retryable {
            None => first,
            Some(pause) => Box::pin(self.again(work, attempt, pause, first)).await,
        }
    }

    /// Tries again after `result`, which asked for it (`pause`), as long as
    /// [`next_try`] says and the request's budget lasts.
    async fn again<T, E, F, Fut>(
        &self,
        work: Work,
        mut attempt: F,
        mut pause: Pause,
        mut result: Result<T, E>,
    ) -> Result<T, E>
    where
        E: Failure,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut sent_again_at_once = false;
        loop {
            match pause {
                Pause::None if !sent_again_at_once => {
                    sent_again_at_once = true;
                    result = attempt().await;
                }
                Pause::None => return result,
                Pause::Wait => {
                    let ends = self.budget_ends();
                    if Instant::now() + RETRY_EVERY >= ends {
                        return result;
                    }
                    tokio::time::sleep(RETRY_EVERY).await;
                    let cut_off = ends + self.attempt_limit;
                    result = match tokio::time::timeout_at(cut_off, attempt()).await {
                        Ok(result) => result,
                        Err(_) => Err(StoreError::from(Unavailable::new(
                            Unsettled::MayHaveRun,
                            format!(
                                "still running {:?} after the failover wait ({:?}) ended",
                                self.attempt_limit, self.wait
                            ),
                        ))
                        .into()),
                    };
                }
            }
            let Err(e) = &result else { return result };
            let Some(next) = e.unsettled().and_then(|outcome| next_try(work, outcome)) else {
                return result;
            };
            pause = next;
        }
    }

    /// When this request's budget ends, starting it now if this is its
    /// first wait.
    fn budget_ends(&self) -> Instant {
        BUDGET.with(|budget| match budget.ends.get() {
            Some(ends) => ends,
            None => {
                let ends = Instant::now() + self.wait;
                budget.ends.set(Some(ends));
                ends
            }
        })
    }
}

#[cfg(test)]
mod tests;
