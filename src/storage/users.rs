//! Users in storage.

use async_trait::async_trait;

use super::{ReadFrom, StoreResult, Written};
use crate::domain::{NewUser, PageRequest, Precondition, User, UserPatch};

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user, one statement on its own (inside a unit of work:
    /// `WriteTx::create_user`); `Violates(UserEmailUnique)` when the
    /// address is taken.
    async fn create(&self, new: &NewUser) -> StoreResult<Written<User>>;
    async fn get(&self, from: ReadFrom, id: i64) -> StoreResult<Option<User>>;
    async fn exists(&self, from: ReadFrom, id: i64) -> StoreResult<bool>;
    /// Applies `patch` if the row exists and `precondition` holds, in one
    /// statement, moving `updated_at` forward; `None` when no row matched.
    async fn update(
        &self,
        id: i64,
        patch: &UserPatch,
        precondition: &Precondition,
    ) -> StoreResult<Written<Option<User>>>;
    /// `false` when there was no such user; `Violates(OrderUser)` when the
    /// user has orders.
    async fn delete(&self, id: i64) -> StoreResult<Written<bool>>;
    /// Up to `page.fetch_len()` users with ids after the cursor, by id;
    /// `email` compares case-insensitively.
    async fn list(
        &self,
        from: ReadFrom,
        page: &PageRequest,
        email: Option<&str>,
    ) -> StoreResult<Vec<User>>;
}
