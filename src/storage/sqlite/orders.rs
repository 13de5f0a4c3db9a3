//! Orders on SQLite. An order and its items are written in one savepoint
//! on the writer, and read back in one statement (the items as a JSON
//! array), so a page of orders costs one query whatever its size.

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::errors::is_foreign_key_failure;
use super::users::user_exists;
use super::{events, from_micros, micros, SqliteStore};
use crate::domain::{EventType, NewOrder, Order, OrderStatus, PageRequest, StoredItem, Version};
use crate::storage::{
    Constraint, OrderFilter, OrderStore, ReadFrom, StoreError, StoreResult, Written,
};

/// The order-with-items query, followed by `$tail`.
macro_rules! select_orders {
    ($tail:literal) => {
        concat!(
            "SELECT o.id, o.user_id, o.status, o.currency, o.total, o.created_at, o.updated_at,
                (SELECT json_group_array(json_array(sku, quantity, unit_price))
                 FROM (SELECT sku, quantity, unit_price FROM order_items
                       WHERE order_id = o.id ORDER BY line)) AS items
             FROM orders o ",
            $tail
        )
    };
}

const ORDER_BY_ID: &str = select_orders!("WHERE o.id = ?");

/// A row of `select_orders!`; its items are checked as they are read.
fn from_row(row: &Row) -> rusqlite::Result<StoreResult<Order>> {
    let items = match serde_json::from_str::<Vec<(String, i64, i64)>>(row.get_ref(7)?.as_str()?) {
        Ok(items) => items,
        Err(e) => return Ok(Err(StoreError::other("reading order items", e))),
    };
    Ok(Ok(Order {
        id: row.get(0)?,
        user_id: row.get(1)?,
        status: OrderStatus::stored(row.get(2)?),
        currency: row.get(3)?,
        total: row.get(4)?,
        created_at: from_micros(row.get(5)?),
        updated_at: from_micros(row.get(6)?),
        items: items
            .into_iter()
            .map(|(sku, quantity, unit_price)| StoredItem {
                sku,
                quantity,
                unit_price,
            })
            .collect(),
    }))
}

fn get(conn: &Connection, id: i64) -> StoreResult<Option<Order>> {
    let mut select = conn.prepare_cached(ORDER_BY_ID)?;
    select.query_row([id], from_row).optional()?.transpose()
}

/// Writes the order and its items, on the writer; the order as written.
/// Every column is written from `new` (the status too, rather than the
/// table's default), so the order is made from them without reading it
/// back.
pub(super) fn insert(conn: &Connection, new: &NewOrder) -> StoreResult<Order> {
    let now = micros(Utc::now());
    let status = OrderStatus::Pending;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO orders (user_id, status, total, currency, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )?
        .query_row(
            params![
                new.user_id(),
                status.as_str(),
                new.total(),
                new.currency().as_str(),
                now,
                now
            ],
            |row| row.get::<_, i64>(0),
        );
    let order_id = match inserted {
        Ok(id) => id,
        // SQLite does not say which foreign key failed: a user missing
        // here says it was ours.
        Err(e) if is_foreign_key_failure(&e) => {
            return Err(match user_exists(conn, new.user_id())? {
                false => StoreError::Violates(Constraint::OrderUser),
                true => e.into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let mut insert_item = conn.prepare_cached(
        "INSERT INTO order_items (order_id, line, sku, quantity, unit_price)
         VALUES (?, ?, ?, ?, ?)",
    )?;
    for (line, item) in new.items().iter().enumerate() {
        insert_item.execute(params![
            order_id,
            line as i64,
            item.sku.as_str(),
            item.quantity.get(),
            item.unit_price.get()
        ])?;
    }
    let order = Order {
        id: order_id,
        user_id: new.user_id(),
        status,
        currency: new.currency().as_str().to_owned(),
        items: new
            .items()
            .iter()
            .map(|item| StoredItem {
                sku: item.sku.as_str().to_owned(),
                quantity: i64::from(item.quantity.get()),
                unit_price: item.unit_price.get(),
            })
            .collect(),
        total: new.total(),
        created_at: from_micros(now),
        updated_at: from_micros(now),
    };
    events::record_order(conn, EventType::OrderCreated, &order, None)?;
    Ok(order)
}

/// Moves the status from `from` if the row is still at `seen`, with its
/// event; the order as it then is, read on the writer inside the same
/// savepoint.
fn set_status_if_unchanged(
    conn: &Connection,
    id: i64,
    seen: Version,
    from: &OrderStatus,
    to: &OrderStatus,
) -> StoreResult<Option<Order>> {
    let changed = conn
        .prepare_cached(
            "UPDATE orders SET status = ?3, updated_at = max(?4, updated_at + 1)
             WHERE id = ?1 AND updated_at = ?2",
        )?
        .execute(params![id, seen.0, to.as_str(), micros(Utc::now())])?;
    if changed == 0 {
        return Ok(None);
    }
    let moved = get(conn, id)?;
    if let Some(order) = &moved {
        events::record_order(conn, EventType::OrderStatusChanged, order, Some(from))?;
    }
    Ok(moved)
}

fn list(conn: &Connection, page: &PageRequest, filter: &OrderFilter) -> StoreResult<Vec<Order>> {
    let mut select = conn.prepare_cached(select_orders!(
        "WHERE o.id > ?1 AND (?3 IS NULL OR o.user_id = ?3) AND (?4 IS NULL OR o.status = ?4)
         ORDER BY o.id LIMIT ?2"
    ))?;
    let rows = select.query_map(
        params![
            page.after_id(),
            page.fetch_len(),
            filter.user_id,
            filter.status.as_ref().map(OrderStatus::as_str)
        ],
        from_row,
    )?;
    rows.map(|row| row?).collect()
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn create(&self, new: &NewOrder) -> StoreResult<Written<Order>> {
        let new = new.clone();
        let order = self.writer.write(move |conn| insert(conn, &new)).await?;
        Ok(Written::unplaced(order))
    }

    async fn get(&self, _: ReadFrom, id: i64) -> StoreResult<Option<Order>> {
        self.readers.read(|conn| get(conn, id))
    }

    async fn set_status_if_unchanged(
        &self,
        id: i64,
        seen: Version,
        from: &OrderStatus,
        to: &OrderStatus,
    ) -> StoreResult<Written<Option<Order>>> {
        let (from, to) = (from.clone(), to.clone());
        let moved = self
            .writer
            .write(move |conn| set_status_if_unchanged(conn, id, seen, &from, &to))
            .await?;
        Ok(Written::unplaced(moved))
    }

    async fn list(
        &self,
        _: ReadFrom,
        page: &PageRequest,
        filter: &OrderFilter,
    ) -> StoreResult<Vec<Order>> {
        self.readers.read(|conn| list(conn, page, filter))
    }
}
