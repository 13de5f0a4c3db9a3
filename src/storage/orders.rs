//! Orders in storage.

use async_trait::async_trait;

use super::{StoreResult, Tx};
use crate::domain::{NewOrder, Order, OrderStatus, PageRequest, Version};

/// Narrows an order listing.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderFilter {
    pub user_id: Option<i64>,
    pub status: Option<OrderStatus>,
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Writes the order and all its items atomically, inside `tx` if
    /// given: all or nothing. `Violates(OrderUser)` when the user does not
    /// exist.
    async fn create(&self, tx: Option<&mut Tx>, new: &NewOrder) -> StoreResult<Order>;
    /// The order with its items.
    async fn get(&self, id: i64) -> StoreResult<Option<Order>>;
    /// Sets the status only if the row is still at `seen`; `None` when it
    /// has changed or gone.
    async fn set_status_if_unchanged(
        &self,
        id: i64,
        seen: Version,
        to: OrderStatus,
    ) -> StoreResult<Option<Order>>;
    /// Up to `page.fetch_len()` orders with their items, by id.
    async fn list(&self, page: &PageRequest, filter: &OrderFilter) -> StoreResult<Vec<Order>>;
}
