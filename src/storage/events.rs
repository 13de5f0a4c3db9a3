//! Events in storage: the feed, its retention, and the snapshot of a
//! changed row that each backend writes beside the change and both read
//! back the same way.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{StoreError, StoreResult};
use crate::domain::{Change, Event, EventType, FeedPosition, Order, OrderStatus, StoredItem, User};

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Up to `limit` events after `after`, in feed order, of `types` (every
    /// type when `None`). Never one that a transaction still running could
    /// precede: a reader who follows the feed misses none.
    async fn feed(
        &self,
        after: FeedPosition,
        limit: i64,
        types: Option<&[EventType]>,
    ) -> StoreResult<Vec<Event>>;

    /// Deletes the events created before `before` (and their deliveries);
    /// how many.
    async fn purge_events(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// Events deleted per statement: no purge holds locks (or SQLite's
/// writer) for long.
pub const PURGE_BATCH: i64 = 5_000;

/// Runs `delete_batch` (which deletes at most `PURGE_BATCH` events and
/// says how many) until a batch comes back short; how many in all.
pub async fn purge_in_batches<F, Fut>(mut delete_batch: F) -> StoreResult<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<i64>>,
{
    let mut purged = 0;
    loop {
        let deleted = delete_batch().await?;
        purged += deleted as u64;
        if deleted < PURGE_BATCH {
            return Ok(purged);
        }
    }
}

/// A user row as an event's `data` holds it; timestamps in microseconds.
/// PostgreSQL builds the same object in SQL (`postgres::events`).
#[derive(Serialize, Deserialize)]
struct UserRow {
    id: i64,
    email: String,
    name: String,
    created_at: i64,
    updated_at: i64,
}

/// An order row with its items as `[sku, quantity, unit_price]`.
#[derive(Serialize, Deserialize)]
struct OrderRow {
    id: i64,
    user_id: i64,
    status: String,
    currency: String,
    total: i64,
    created_at: i64,
    updated_at: i64,
    items: Option<Vec<(String, i64, i64)>>,
}

fn at(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// The snapshot of `user`, to store beside its change.
pub fn user_snapshot(user: &User) -> String {
    let row = UserRow {
        id: user.id,
        email: user.email.clone(),
        name: user.name.clone(),
        created_at: user.created_at.timestamp_micros(),
        updated_at: user.updated_at.timestamp_micros(),
    };
    serde_json::to_string(&row).expect("a user serialises")
}

/// The snapshot of `order`, to store beside its change.
pub fn order_snapshot(order: &Order) -> String {
    let row = OrderRow {
        id: order.id,
        user_id: order.user_id,
        status: order.status.as_str().to_owned(),
        currency: order.currency.clone(),
        total: order.total,
        created_at: order.created_at.timestamp_micros(),
        updated_at: order.updated_at.timestamp_micros(),
        items: Some(
            order
                .items
                .iter()
                .map(|i| (i.sku.clone(), i.quantity, i.unit_price))
                .collect(),
        ),
    };
    serde_json::to_string(&row).expect("an order serialises")
}

/// An event's columns, as either backend reads them.
pub struct EventRow {
    pub position: FeedPosition,
    pub id: uuid::Uuid,
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub data: String,
    pub previous_status: Option<String>,
}

impl EventRow {
    pub fn into_event(self) -> StoreResult<Event> {
        let kind = EventType::parse(&self.kind)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("reading an event: {e}")))?;
        let unreadable = |e| StoreError::other("reading an event's data", e);
        let change = match kind {
            EventType::UserCreated | EventType::UserUpdated | EventType::UserDeleted => {
                let row: UserRow = serde_json::from_str(&self.data).map_err(unreadable)?;
                Change::User(User {
                    id: row.id,
                    email: row.email,
                    name: row.name,
                    created_at: at(row.created_at),
                    updated_at: at(row.updated_at),
                })
            }
            EventType::OrderCreated | EventType::OrderStatusChanged => {
                let row: OrderRow = serde_json::from_str(&self.data).map_err(unreadable)?;
                let order = Order {
                    id: row.id,
                    user_id: row.user_id,
                    status: OrderStatus::stored(row.status),
                    currency: row.currency,
                    total: row.total,
                    created_at: at(row.created_at),
                    updated_at: at(row.updated_at),
                    items: (row.items.unwrap_or_default().into_iter())
                        .map(|(sku, quantity, unit_price)| StoredItem {
                            sku,
                            quantity,
                            unit_price,
                        })
                        .collect(),
                };
                match (kind, self.previous_status) {
                    (EventType::OrderStatusChanged, Some(previous)) => Change::OrderMoved {
                        order,
                        previous: OrderStatus::stored(previous),
                    },
                    _ => Change::Order(order),
                }
            }
        };
        Ok(Event {
            id: crate::domain::EventId(self.id),
            kind,
            created_at: self.created_at,
            change,
            position: self.position,
        })
    }
}
