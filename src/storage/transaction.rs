//! A unit of work: one open write transaction, owned by the backend that
//! opened it, with the writes a use case may make inside it. The
//! application layer gets one by claiming an idempotency key
//! (`IdempotencyStore::claim`), makes its writes through it, and commits
//! once or rolls back: the shape of zero-to-production's `try_processing`,
//! which hands its transaction to the write and back. Dropping one unended
//! (a cancelled request) rolls back too, in the background.

use async_trait::async_trait;

use super::{LogPosition, StoreResult};
use crate::domain::{IdempotencyKey, NewOrder, NewUser, Order, SavedResponse, User};

#[async_trait]
pub trait WriteTx: Send {
    /// Inserts a user; `Violates(UserEmailUnique)` when the address is taken.
    async fn create_user(&mut self, new: &NewUser) -> StoreResult<User>;

    /// Writes an order and all its items; `Violates(OrderUser)` when the
    /// user does not exist.
    async fn create_order(&mut self, new: &NewOrder) -> StoreResult<Order>;

    /// Stores `response` under `key`; `Violates(IdempotencyKeyUnique)` if
    /// a row is already there.
    async fn record_response(
        &mut self,
        key: &IdempotencyKey,
        response: &SavedResponse,
    ) -> StoreResult<()>;

    /// Deletes the row stored under `key` (an expired one, about to be
    /// replaced).
    async fn forget_response(&mut self, key: &IdempotencyKey) -> StoreResult<()>;

    /// Commits; where the primary's log stood after it, when replicas need
    /// to know (`Written::at`). Fails (503) if the commit cannot be
    /// acknowledged, even where the database kept it.
    async fn commit(self: Box<Self>) -> StoreResult<Option<LogPosition>>;

    /// Rolls back now, releasing the transaction's locks before returning.
    async fn rollback(self: Box<Self>) -> StoreResult<()>;

    /// Ends the transaction once the response stored under `key`, and
    /// every commit made before it, is as safe as an acknowledged one:
    /// what a replay needs, since the response it replays may belong to a
    /// commit that was never acknowledged (its synchronous standby did not
    /// confirm it). Changes no value. Fails (503) where that cannot be
    /// confirmed now.
    async fn confirm_stored(self: Box<Self>, key: &IdempotencyKey) -> StoreResult<()>;
}

/// An open transaction, whichever backend opened it: its writes through
/// `Deref`, its end by value.
pub struct Tx(Box<dyn WriteTx>);

impl Tx {
    pub fn new(tx: impl WriteTx + 'static) -> Self {
        Self(Box::new(tx))
    }

    pub async fn commit(self) -> StoreResult<Option<LogPosition>> {
        self.0.commit().await
    }

    pub async fn rollback(self) -> StoreResult<()> {
        self.0.rollback().await
    }

    pub async fn confirm_stored(self, key: &IdempotencyKey) -> StoreResult<()> {
        self.0.confirm_stored(key).await
    }
}

impl std::ops::Deref for Tx {
    type Target = dyn WriteTx;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.0
    }
}
