//! Order use cases: create, read, move along the status machine, and list.

use super::error::OnConstraint;
use super::{App, AppError, AppResult, Created};
use crate::domain::{IdempotencyKey, NewOrder, Order, OrderStatus, PageRequest, Precondition};
use crate::storage::{Constraint, OrderFilter};

impl App {
    /// Creates an order with its items, all or nothing; with a key, at most
    /// once per key.
    pub async fn create_order(
        &self,
        new: NewOrder,
        key: Option<&IdempotencyKey>,
    ) -> AppResult<Created<Order>> {
        self.idempotency
            .once(key, async |tx| {
                self.orders
                    .create(tx, &new)
                    .await
                    .on_constraint(Constraint::OrderUser, AppError::UnknownUser)
            })
            .await
    }

    pub async fn get_order(&self, id: i64) -> AppResult<Order> {
        self.orders
            .get(id)
            .await?
            .ok_or(AppError::NotFound("order"))
    }

    /// Moves an order along the status machine. The move is decided against
    /// the state read and written only if that state is still current, so
    /// of two racing moves from one state exactly one wins; the other is
    /// told the order moved meanwhile, even if its own move would be legal
    /// from the new state (it was decided against the old one).
    pub async fn move_order(
        &self,
        id: i64,
        to: OrderStatus,
        precondition: Precondition,
    ) -> AppResult<Order> {
        let current = self.get_order(id).await?;
        if !precondition.allows(current.version()) {
            return Err(AppError::PreconditionFailed);
        }
        let legal = OrderStatus::parse(&current.status).is_ok_and(|from| from.can_move_to(to));
        if !legal {
            return Err(AppError::IllegalMove {
                from: current.status,
                to: to.as_str(),
            });
        }
        if let Some(moved) = self
            .orders
            .set_status_if_unchanged(id, current.version(), to)
            .await?
        {
            return Ok(moved);
        }
        let now = self.get_order(id).await?;
        if !precondition.allows(now.version()) {
            return Err(AppError::PreconditionFailed);
        }
        Err(AppError::MovedConcurrently { now: now.status })
    }

    /// A page of orders by id, narrowed by `filter`.
    pub async fn list_orders(
        &self,
        page: &PageRequest,
        filter: &OrderFilter,
    ) -> AppResult<Vec<Order>> {
        Ok(self.orders.list(page, filter).await?)
    }

    /// A page of one user's orders; `NotFound` when the user does not exist.
    pub async fn list_user_orders(
        &self,
        user_id: i64,
        page: &PageRequest,
        status: Option<OrderStatus>,
    ) -> AppResult<Vec<Order>> {
        if !self.users.exists(user_id).await? {
            return Err(AppError::NotFound("user"));
        }
        let filter = OrderFilter {
            user_id: Some(user_id),
            status,
        };
        self.list_orders(page, &filter).await
    }
}
