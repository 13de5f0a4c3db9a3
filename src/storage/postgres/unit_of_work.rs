//! A PostgreSQL transaction as the application layer's unit of work: the
//! writes a use case makes inside it, each the same SQL it runs on its own
//! (the resources' files), here on the transaction's connection.

use async_trait::async_trait;

use super::transaction::PgTx;
use super::{idempotency_keys, orders, users};
use crate::domain::{IdempotencyKey, NewOrder, NewUser, Order, SavedResponse, User};
use crate::storage::{LogPosition, StoreResult, WriteTx};

#[async_trait]
impl WriteTx for PgTx {
    async fn create_user(&mut self, new: &NewUser) -> StoreResult<User> {
        users::insert(&*self, new).await
    }

    async fn create_order(&mut self, new: &NewOrder) -> StoreResult<Order> {
        orders::insert(&*self, new).await
    }

    async fn record_response(
        &mut self,
        key: &IdempotencyKey,
        response: &SavedResponse,
    ) -> StoreResult<()> {
        idempotency_keys::insert(&*self, key, response).await
    }

    async fn forget_response(&mut self, key: &IdempotencyKey) -> StoreResult<()> {
        idempotency_keys::delete(&*self, key).await
    }

    async fn commit(self: Box<Self>) -> StoreResult<Option<LogPosition>> {
        PgTx::commit(*self).await
    }

    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        PgTx::rollback(*self).await
    }

    async fn confirm_stored(self: Box<Self>, key: &IdempotencyKey) -> StoreResult<()> {
        idempotency_keys::rewrite(&*self, key).await?;
        self.commit().await.map(drop)
    }
}
