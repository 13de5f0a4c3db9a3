//! Orders in storage.

use async_trait::async_trait;

use super::{ReadFrom, StoreResult, Written};
use crate::domain::{NewOrder, Order, OrderStatus, PageRequest, Version};

/// Narrows an order listing.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub user_id: Option<i64>,
    pub status: Option<OrderStatus>,
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Writes the order and all its items atomically, on its own (inside a
    /// unit of work: `WriteTx::create_order`): all or nothing.
    /// `Violates(OrderUser)` when the user does not exist.
    async fn create(&self, new: &NewOrder) -> StoreResult<Written<Order>>;
    /// The order with its items.
    async fn get(&self, from: ReadFrom, id: i64) -> StoreResult<Option<Order>>;
    /// Moves the status from `from` to `to` only if the row is still at
    /// `seen` (where its status is `from`), with its `order.status_changed`
    /// event; the order as it then is (read on the primary), or `None` when
    /// it has changed or gone.
    async fn set_status_if_unchanged(
        &self,
        id: i64,
        seen: Version,
        from: &OrderStatus,
        to: &OrderStatus,
    ) -> StoreResult<Written<Option<Order>>>;
    /// Up to `page.fetch_len()` orders with their items, by id.
    async fn list(
        &self,
        from: ReadFrom,
        page: &PageRequest,
        filter: &OrderFilter,
    ) -> StoreResult<Vec<Order>>;
}
