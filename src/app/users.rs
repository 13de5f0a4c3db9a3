//! User use cases: create, read, update, delete and list users.

use super::error::OnConstraint;
use super::{App, AppError, AppResult, Caller, Created};
use crate::domain::{IdempotencyKey, NewUser, PageRequest, Precondition, User, UserPatch};
use crate::storage::{Constraint, ReadFrom, StoreResult};

/// A taken address, as a create or an update meets it.
fn email_taken<T>(result: StoreResult<T>) -> AppResult<T> {
    result.on_constraint(Constraint::UserEmailUnique, AppError::EmailTaken)
}

impl App {
    /// Creates a user; with a key, at most once per key.
    pub async fn create_user(
        &self,
        caller: Caller,
        new: NewUser,
        key: Option<&IdempotencyKey>,
    ) -> AppResult<Created<User>> {
        self.create(
            caller,
            key,
            async || email_taken(self.users.create(&new).await),
            |tx| {
                let new = new.clone();
                Box::pin(async move { email_taken(tx.create_user(&new).await) })
            },
        )
        .await
    }

    pub async fn get_user(&self, caller: Caller, id: i64) -> AppResult<User> {
        let from = self.floors.reads_for(caller).await;
        self.users
            .get(from, id)
            .await?
            .ok_or(AppError::NotFound("user"))
    }

    /// Applies a partial update if `precondition` holds.
    pub async fn update_user(
        &self,
        caller: Caller,
        id: i64,
        patch: UserPatch,
        precondition: Precondition,
    ) -> AppResult<User> {
        let updated = email_taken(self.users.update(id, &patch, &precondition).await)?;
        match self.floors.after(caller, updated).await {
            Some(user) => Ok(user),
            // No row matched: either there is none, or its version moved
            // on. Which one decides the answer: ask the primary.
            None => match self.users.get(ReadFrom::Primary, id).await? {
                None => Err(AppError::NotFound("user")),
                Some(_) => Err(AppError::PreconditionFailed),
            },
        }
    }

    /// Deletes a user who has no orders.
    pub async fn delete_user(&self, caller: Caller, id: i64) -> AppResult<()> {
        let deleted = self
            .users
            .delete(id)
            .await
            .on_constraint(Constraint::OrderUser, AppError::UserHasOrders)?;
        let deleted = self.floors.after(caller, deleted).await;
        deleted.then_some(()).ok_or(AppError::NotFound("user"))
    }

    /// A page of users by id; `email` matches case-insensitively.
    pub async fn list_users(
        &self,
        caller: Caller,
        page: &PageRequest,
        email: Option<&str>,
    ) -> AppResult<Vec<User>> {
        let from = self.floors.reads_for(caller).await;
        Ok(self.users.list(from, page, email).await?)
    }
}
