//! Users in storage.

use async_trait::async_trait;

use super::{StoreResult, Tx};
use crate::domain::{NewUser, PageRequest, Precondition, User, UserPatch};

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user, inside `tx` if given; `Violates(UserEmailUnique)`
    /// when the address is taken.
    async fn create(&self, tx: Option<&mut Tx>, new: &NewUser) -> StoreResult<User>;
    async fn get(&self, id: i64) -> StoreResult<Option<User>>;
    async fn exists(&self, id: i64) -> StoreResult<bool>;
    /// Applies `patch` if the row exists and `precondition` holds, in one
    /// statement, moving `updated_at` forward; `None` when no row matched.
    async fn update(
        &self,
        id: i64,
        patch: &UserPatch,
        precondition: &Precondition,
    ) -> StoreResult<Option<User>>;
    /// `false` when there was no such user; `Violates(OrderUser)` when the
    /// user has orders.
    async fn delete(&self, id: i64) -> StoreResult<bool>;
    /// Up to `page.fetch_len()` users with ids after the cursor, by id;
    /// `email` compares case-insensitively.
    async fn list(&self, page: &PageRequest, email: Option<&str>) -> StoreResult<Vec<User>>;
}
