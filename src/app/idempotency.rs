//! Idempotency keys: the whole policy, in the shape of zero-to-production's
//! `try_processing` / `save_response`.
//!
//! - **Claim.** A request with a key first marks the key in flight in this
//!   process, then claims it in storage, which opens the write transaction
//!   the work will run in and holds the key until that transaction ends
//!   (PostgreSQL: an advisory lock, so other instances see it too; SQLite:
//!   the single writer's lock).
//! - **Decide.** Nothing stored, or only an expired row: execute. A live row
//!   with another body's fingerprint: 422. A live row with the same body:
//!   replay its response, byte for byte, without executing, once storage
//!   confirms that its commit is as safe as an acknowledged one (the first
//!   run may have been refused because the synchronous standby never
//!   confirmed it: a replay must not acknowledge it either).
//! - **Execute and record.** The work and the response it produced, stored
//!   as data, commit in one transaction: never a resource without its
//!   response, nor a response without its resource. A failed request stores
//!   nothing, so a retry executes again.
//! - **In flight.** A repeat while the first is still running gets
//!   [`AppError::KeyInFlight`] (409 with `Retry-After`) at once, on both
//!   backends: from this process's in-flight set, or on PostgreSQL from
//!   another instance's lock. (Another *process* on the same SQLite file
//!   waits for the writer's lock instead, then replays.) A crash leaves no
//!   claim behind: both holds end with the transaction or the process.
//! - **Made again.** A run that failed for want of a database, having
//!   committed nothing, with a commit a shutdown cut short, or with its
//!   answer lost (it may have run), is made again from its claim, within
//!   the request's one budget for waiting (`storage::retry`, which
//!   decides): the claim replays what was committed and makes what was
//!   not; while the request's own first run still holds the key, it stays
//!   unsettled (503 once the budget ends).
//! - **Purge.** Rows older than [`TTL`] are never replayed and are deleted
//!   in the background, in small batches.
//!
//! Adding idempotency to another POST: call [`Idempotency::once`] from its
//! use case when the request has a key, make its write through the
//! transaction `once` hands over (a method of `WriteTx`), and implement
//! [`Replayable`] for what it returns.

use futures_util::future::BoxFuture;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{TimeDelta, Utc};

use super::error::OnConstraint;
use super::{AppError, AppResult};
use crate::domain::{IdempotencyKey, SavedResponse, Scope};
use crate::storage::retry::{Retry, Work as Attempt};
use crate::storage::{
    Claim, Constraint, IdempotencyStore, LogPosition, Tx, Unavailable, Unsettled, Written,
};
use crate::telemetry::metrics;

/// How long a stored response is replayed.
pub const TTL: TimeDelta = TimeDelta::hours(24);

/// Rows deleted per statement by the purge: each holds locks only briefly.
const PURGE_BATCH: u32 = 1_000;

/// How an outcome is answered, as data a repeat can replay byte for byte.
/// The HTTP layer implements it for what its creates return.
pub trait Replayable {
    fn saved_response(&self) -> SavedResponse;
}

/// What a create returns: what it made, or the response stored under the
/// request's idempotency key.
#[derive(Debug)]
pub enum Created<T> {
    New(T),
    Replayed(SavedResponse),
}

/// What to do with a request that carries a key.
pub enum NextAction {
    /// Execute inside the claim's transaction, then [`Idempotency::save_response`].
    StartProcessing(Processing),
    ReturnSavedResponse(SavedResponse),
}

/// A claimed key: the open transaction the work runs in, and the key's mark
/// in this process's in-flight set (cleared when this is dropped, however
/// the request ends).
pub struct Processing {
    tx: Tx,
    _in_flight: InFlight,
}

impl Processing {
    pub fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// Rolls the work back now, then clears the in-flight mark: a retry
    /// that arrives the moment this request has answered finds the key free.
    /// A failed rollback is left to the transaction's `Drop`, which discards
    /// the connection.
    pub async fn abandon(self) {
        let _ = self.tx.rollback().await;
        drop(self._in_flight);
    }
}

/// A key as its owner, route and text identify it.
type KeyId = (i64, Scope, String);

/// A key marked in flight in this process.
struct InFlight {
    set: Arc<Mutex<HashSet<KeyId>>>,
    id: KeyId,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.set).remove(&self.id);
    }
}

/// The set's lock. A panic elsewhere cannot leave the set half-changed
/// (each access is one insert or remove), so a poisoned lock is still good;
/// refusing it would make this `Drop` panic while unwinding.
fn lock(set: &Mutex<HashSet<KeyId>>) -> std::sync::MutexGuard<'_, HashSet<KeyId>> {
    set.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A keyed create's writes, inside the claim's transaction: a function
/// that can run more than once (`once` runs it again after a run that
/// committed nothing), each run's future borrowing only the transaction.
pub trait Work<T>: for<'t> Fn(&'t mut Tx) -> BoxFuture<'t, AppResult<T>> {}

impl<T, F> Work<T> for F where F: for<'t> Fn(&'t mut Tx) -> BoxFuture<'t, AppResult<T>> {}

pub struct Idempotency {
    store: Arc<dyn IdempotencyStore>,
    in_flight: Arc<Mutex<HashSet<KeyId>>>,
    retry: Retry,
}

impl Idempotency {
    pub fn new(store: Arc<dyn IdempotencyStore>, retry: Retry) -> Self {
        Self {
            store,
            in_flight: Arc::default(),
            retry,
        }
    }

    /// Runs `work` at most once per key, inside the claim's transaction,
    /// and answers repeats with what the first run answered; where the
    /// commit left the primary's log, when replicas need to know.
    ///
    /// A run that failed for want of a database is made again from the
    /// claim as the retry policy says (`storage::retry`): one that
    /// committed nothing, whose commit a shutdown cut short, or whose
    /// answer was lost (its claim then finds it on whichever server takes
    /// writes, or makes it).
    pub async fn once<T: Replayable>(
        &self,
        key: &IdempotencyKey,
        work: impl Work<T>,
    ) -> AppResult<Written<Created<T>>> {
        let made_before = std::sync::atomic::AtomicBool::new(false);
        let work = &work;
        let result = self
            .retry
            .run(Attempt::UnderKey, || {
                let again = made_before.swap(true, std::sync::atomic::Ordering::Relaxed);
                async move {
                    match self.once_with_key(key, work).await {
                        // The key is held by this request's own earlier
                        // attempt, whose answer was lost and whose server
                        // still runs it: not another client's request, so
                        // not 409. It stays unsettled until that attempt
                        // ends or the budget does (then 503).
                        Err(AppError::KeyInFlight) if again => {
                            Err(AppError::Unavailable(Unavailable::new(
                                Unsettled::MayHaveRun,
                                "this request's earlier attempt still holds its key",
                            )))
                        }
                        other => other,
                    }
                }
            })
            .await;
        metrics::record_idempotent(match &result {
            Ok(Written {
                value: Created::New(_),
                ..
            }) => "executed",
            Ok(Written {
                value: Created::Replayed(_),
                ..
            }) => "replayed",
            Err(AppError::KeyInFlight) => "in_flight",
            Err(AppError::KeyReused) => "key_reused",
            Err(_) => "failed",
        });
        result
    }

    async fn once_with_key<T: Replayable>(
        &self,
        key: &IdempotencyKey,
        work: &impl Work<T>,
    ) -> AppResult<Written<Created<T>>> {
        let mut processing = match self.try_processing(key).await? {
            NextAction::StartProcessing(processing) => processing,
            NextAction::ReturnSavedResponse(saved) => {
                return Ok(Written::unplaced(Created::Replayed(saved)))
            }
        };
        let outcome = match work(processing.tx()).await {
            Ok(outcome) => outcome,
            Err(e) => {
                processing.abandon().await;
                return Err(e);
            }
        };
        let at = self
            .save_response(processing, key, outcome.saved_response())
            .await?;
        Ok(Written {
            value: Created::New(outcome),
            at,
        })
    }

    /// Claims `key` and decides what its request gets.
    pub async fn try_processing(&self, key: &IdempotencyKey) -> AppResult<NextAction> {
        let in_flight = self.mark_in_flight(key).ok_or(AppError::KeyInFlight)?;
        let (tx, stored) = match self.store.claim(key).await? {
            Claim::Held { tx, stored } => (tx, stored),
            Claim::HeldElsewhere => return Err(AppError::KeyInFlight),
        };
        let mut processing = Processing {
            tx,
            _in_flight: in_flight,
        };
        match stored {
            Some(row) if row.created_at > Utc::now() - TTL => {
                // Nothing runs: the claim ends here either way.
                if row.fingerprint != key.fingerprint {
                    processing.abandon().await;
                    return Err(AppError::KeyReused);
                }
                let Processing { tx, _in_flight } = processing;
                tx.confirm_stored(key).await?;
                Ok(NextAction::ReturnSavedResponse(row.response))
            }
            Some(_expired) => match processing.tx().forget_response(key).await {
                Ok(()) => Ok(NextAction::StartProcessing(processing)),
                Err(e) => {
                    processing.abandon().await;
                    Err(e.into())
                }
            },
            None => Ok(NextAction::StartProcessing(processing)),
        }
    }

    /// Records the response beside the work and commits both; where the
    /// commit left the primary's log, when replicas need to know.
    pub async fn save_response(
        &self,
        mut processing: Processing,
        key: &IdempotencyKey,
        response: SavedResponse,
    ) -> AppResult<Option<LogPosition>> {
        // The claim holds the key, so a row appearing meanwhile means the
        // hold was bypassed (outside interference): the other writer's
        // request counts as the one in flight, and this one's work is undone.
        let saved = processing
            .tx()
            .record_response(key, &response)
            .await
            .on_constraint(Constraint::IdempotencyKeyUnique, AppError::KeyInFlight);
        if let Err(e) = saved {
            processing.abandon().await;
            return Err(e);
        }
        let Processing { tx, _in_flight } = processing;
        Ok(tx.commit().await?)
    }

    /// Deletes rows older than [`TTL`], a batch at a time; returns how many.
    pub async fn purge_expired(&self) -> AppResult<u64> {
        let cutoff = Utc::now() - TTL;
        let mut purged = 0;
        loop {
            let deleted = self.store.delete_stored_before(cutoff, PURGE_BATCH).await?;
            purged += deleted;
            if deleted < u64::from(PURGE_BATCH) {
                return Ok(purged);
            }
        }
    }

    /// Marks `key` in flight in this process; `None` if it already is.
    fn mark_in_flight(&self, key: &IdempotencyKey) -> Option<InFlight> {
        let id = (key.owner, key.scope, key.key.clone());
        let newly = lock(&self.in_flight).insert(id.clone());
        newly.then(|| InFlight {
            set: self.in_flight.clone(),
            id,
        })
    }
}
