//! A write transaction on SQLite: `BEGIN IMMEDIATE` on the single writer
//! connection, so no other writer (in this process or another) runs until
//! it ends. sqlx rolls it back when it is dropped unended.

use async_trait::async_trait;

use super::errors::db_error;
use super::{idempotency_keys, orders, users};
use crate::domain::{IdempotencyKey, NewOrder, NewUser, Order, SavedResponse, User};
use crate::storage::{LogPosition, StoreResult, WriteTx};

pub struct SqliteTx(pub(super) sqlx::Transaction<'static, sqlx::Sqlite>);

impl SqliteTx {
    pub(super) async fn commit_here(self) -> StoreResult<()> {
        self.0.commit().await.map_err(db_error)
    }
}

#[async_trait]
impl WriteTx for SqliteTx {
    async fn create_user(&mut self, new: &NewUser) -> StoreResult<User> {
        users::insert(&mut self.0, new).await
    }

    async fn create_order(&mut self, new: &NewOrder) -> StoreResult<Order> {
        orders::insert(&mut self.0, new).await
    }

    async fn record_response(
        &mut self,
        key: &IdempotencyKey,
        response: &SavedResponse,
    ) -> StoreResult<()> {
        idempotency_keys::insert(&mut self.0, key, response).await
    }

    async fn forget_response(&mut self, key: &IdempotencyKey) -> StoreResult<()> {
        idempotency_keys::delete(&mut self.0, key).await
    }

    /// SQLite has no replicas: no position to report.
    async fn commit(self: Box<Self>) -> StoreResult<Option<LogPosition>> {
        self.commit_here().await.map(|()| None)
    }

    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        self.0.rollback().await.map_err(db_error)
    }

    /// One file, no standby: a commit that returned is as safe as SQLite
    /// makes any (its synchronous setting decides).
    async fn confirm_stored(self: Box<Self>, _: &IdempotencyKey) -> StoreResult<()> {
        self.0.rollback().await.map_err(db_error)
    }
}
