//! The writes a use case makes inside a unit of work on SQLite
//! (`transaction.rs`), each a step of its session on the writer.

use async_trait::async_trait;

use super::transaction::SqliteTx;
use super::{idempotency_keys, orders, users};
use crate::domain::{IdempotencyKey, NewOrder, NewUser, Order, SavedResponse, User};
use crate::storage::{LogPosition, StoreResult, WriteTx};

#[async_trait]
impl WriteTx for SqliteTx {
    async fn create_user(&mut self, new: &NewUser) -> StoreResult<User> {
        let new = new.clone();
        self.0.run(move |conn| users::insert(conn, &new)).await
    }

    async fn create_order(&mut self, new: &NewOrder) -> StoreResult<Order> {
        let new = new.clone();
        self.0.run(move |conn| orders::insert(conn, &new)).await
    }

    async fn record_response(
        &mut self,
        key: &IdempotencyKey,
        response: &SavedResponse,
    ) -> StoreResult<()> {
        let (key, response) = (key.clone(), response.clone());
        self.0
            .run(move |conn| idempotency_keys::insert(conn, &key, &response))
            .await
    }

    async fn forget_response(&mut self, key: &IdempotencyKey) -> StoreResult<()> {
        let key = key.clone();
        self.0
            .run(move |conn| idempotency_keys::delete(conn, &key))
            .await
    }

    /// SQLite has no replicas: no position to report.
    async fn commit(self: Box<Self>) -> StoreResult<Option<LogPosition>> {
        self.0.commit().await.map(|()| None)
    }

    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        self.0.rollback().await
    }

    /// The stored response was read inside a batch that may hold its
    /// commit, not yet flushed: ending this session with that batch's
    /// commit answers only once it is on disk. Nothing is changed.
    async fn confirm_stored(self: Box<Self>, _: &IdempotencyKey) -> StoreResult<()> {
        self.0.commit().await
    }
}
