//! User use cases: create, read, update, delete and list users.

use super::error::OnConstraint;
use super::{App, AppError, AppResult, Created};
use crate::domain::{IdempotencyKey, NewUser, PageRequest, Precondition, User, UserPatch};
use crate::storage::Constraint;

impl App {
    /// Creates a user; with a key, at most once per key.
    pub async fn create_user(
        &self,
        new: NewUser,
        key: Option<&IdempotencyKey>,
    ) -> AppResult<Created<User>> {
        self.idempotency
            .once(key, async |tx| {
                self.users
                    .create(tx, &new)
                    .await
                    .on_constraint(Constraint::UserEmailUnique, AppError::EmailTaken)
            })
            .await
    }

    pub async fn get_user(&self, id: i64) -> AppResult<User> {
        self.users.get(id).await?.ok_or(AppError::NotFound("user"))
    }

    /// Applies a partial update if `precondition` holds.
    pub async fn update_user(
        &self,
        id: i64,
        patch: UserPatch,
        precondition: Precondition,
    ) -> AppResult<User> {
        let updated = self
            .users
            .update(id, &patch, &precondition)
            .await
            .on_constraint(Constraint::UserEmailUnique, AppError::EmailTaken)?;
        match updated {
            Some(user) => Ok(user),
            // No row matched: either there is none, or its version moved on.
            None => match self.users.get(id).await? {
                None => Err(AppError::NotFound("user")),
                Some(_) => Err(AppError::PreconditionFailed),
            },
        }
    }

    /// Deletes a user who has no orders.
    pub async fn delete_user(&self, id: i64) -> AppResult<()> {
        let deleted = self
            .users
            .delete(id)
            .await
            .on_constraint(Constraint::OrderUser, AppError::UserHasOrders)?;
        deleted.then_some(()).ok_or(AppError::NotFound("user"))
    }

    /// A page of users by id; `email` matches case-insensitively.
    pub async fn list_users(
        &self,
        page: &PageRequest,
        email: Option<&str>,
    ) -> AppResult<Vec<User>> {
        Ok(self.users.list(page, email).await?)
    }
}
