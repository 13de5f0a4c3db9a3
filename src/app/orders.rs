//! Order use cases: create, read, move along the status machine, and list.

use super::error::OnConstraint;
use super::{App, AppError, AppResult, Caller, Created};
use crate::domain::{IdempotencyKey, NewOrder, Order, OrderStatus, PageRequest, Precondition};
use crate::storage::{Constraint, OrderFilter, ReadFrom, StoreResult};

/// A missing user, as an order create meets it.
fn unknown_user<T>(result: StoreResult<T>) -> AppResult<T> {
    result.on_constraint(Constraint::OrderUser, AppError::UnknownUser)
}

impl App {
    /// Creates an order with its items, all or nothing; with a key, at most
    /// once per key.
    pub async fn create_order(
        &self,
        caller: Caller,
        new: NewOrder,
        key: Option<&IdempotencyKey>,
    ) -> AppResult<Created<Order>> {
        self.create(
            caller,
            key,
            async || unknown_user(self.orders.create(&new).await),
            |tx| {
                let new = new.clone();
                Box::pin(async move { unknown_user(tx.create_order(&new).await) })
            },
        )
        .await
    }

    pub async fn get_order(&self, caller: Caller, id: i64) -> AppResult<Order> {
        self.order(self.floors.reads_for(caller).await, id).await
    }

    /// Moves an order along the status machine. The move is decided against
    /// the state read (on the primary: it decides a write) and written only
    /// if that state is still current, so of two racing moves from one
    /// state exactly one wins; the other is told the order moved meanwhile,
    /// even if its own move would be legal from the new state (it was
    /// decided against the old one).
    pub async fn move_order(
        &self,
        caller: Caller,
        id: i64,
        to: OrderStatus,
        precondition: Precondition,
    ) -> AppResult<Order> {
        let current = self.order(ReadFrom::Primary, id).await?;
        if !precondition.allows(current.version()) {
            return Err(AppError::PreconditionFailed);
        }
        if !current.status.can_move_to(&to) {
            return Err(AppError::IllegalMove {
                from: current.status,
                to,
            });
        }
        let moved = self
            .orders
            .set_status_if_unchanged(id, current.version(), &current.status, &to)
            .await?;
        if let Some(moved) = self.floors.after(caller, moved).await {
            return Ok(moved);
        }
        let now = self.order(ReadFrom::Primary, id).await?;
        if !precondition.allows(now.version()) {
            return Err(AppError::PreconditionFailed);
        }
        Err(AppError::MovedConcurrently { now: now.status })
    }

    /// A page of orders by id, narrowed by `filter`.
    pub async fn list_orders(
        &self,
        caller: Caller,
        page: &PageRequest,
        filter: &OrderFilter,
    ) -> AppResult<Vec<Order>> {
        let from = self.floors.reads_for(caller).await;
        Ok(self.orders.list(from, page, filter).await?)
    }

    /// A page of one user's orders; `NotFound` when the user does not exist.
    pub async fn list_user_orders(
        &self,
        caller: Caller,
        user_id: i64,
        page: &PageRequest,
        status: Option<OrderStatus>,
    ) -> AppResult<Vec<Order>> {
        let from = self.floors.reads_for(caller).await;
        if !self.users.exists(from, user_id).await? {
            return Err(AppError::NotFound("user"));
        }
        let filter = OrderFilter {
            user_id: Some(user_id),
            status,
        };
        Ok(self.orders.list(from, page, &filter).await?)
    }

    async fn order(&self, from: ReadFrom, id: i64) -> AppResult<Order> {
        self.orders
            .get(from, id)
            .await?
            .ok_or(AppError::NotFound("order"))
    }
}
