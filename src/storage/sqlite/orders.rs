//! Orders on SQLite. An order and its items are written in one `BEGIN
//! IMMEDIATE` transaction, and read back in one statement (the items as a
//! JSON array), so a page of orders costs one query whatever its size.

use async_trait::async_trait;
use chrono::Utc;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::errors::{db_error, is_foreign_key_failure};
use super::users::user_exists;
use super::{from_micros, micros, SqliteStore};
use crate::domain::{NewOrder, Order, OrderStatus, PageRequest, StoredItem, Version};
use crate::storage::{
    Constraint, OrderFilter, OrderStore, ReadFrom, StoreError, StoreResult, Written,
};

/// The order-with-items query, followed by `$tail` (a `'static` string, as
/// sqlx wants for its statement cache).
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

fn from_row(row: &SqliteRow) -> StoreResult<Order> {
    let items: Vec<(String, i64, i64)> = serde_json::from_str(row.get::<&str, _>(7))
        .map_err(|e| StoreError::other("reading order items", e))?;
    Ok(Order {
        id: row.get(0),
        user_id: row.get(1),
        status: OrderStatus::stored(row.get(2)),
        currency: row.get(3),
        total: row.get(4),
        created_at: from_micros(row.get(5)),
        updated_at: from_micros(row.get(6)),
        items: items
            .into_iter()
            .map(|(sku, quantity, unit_price)| StoredItem {
                sku,
                quantity,
                unit_price,
            })
            .collect(),
    })
}

/// Writes the order and its items inside the caller's write transaction.
pub(super) async fn insert(conn: &mut SqliteConnection, new: &NewOrder) -> StoreResult<Order> {
    let now = micros(Utc::now());
    let inserted = sqlx::query_scalar(
        "INSERT INTO orders (user_id, total, currency, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(new.user_id())
    .bind(new.total())
    .bind(new.currency().as_str())
    .bind(now)
    .bind(now)
    .fetch_one(&mut *conn)
    .await;
    let order_id: i64 = match inserted {
        Ok(id) => id,
        // SQLite does not say which foreign key failed: a user missing in
        // this transaction says it was ours.
        Err(e) if is_foreign_key_failure(&e) => {
            return Err(match user_exists(&mut *conn, new.user_id()).await? {
                false => StoreError::Violates(Constraint::OrderUser),
                true => db_error(e),
            });
        }
        Err(e) => return Err(db_error(e)),
    };
    for (line, item) in new.items().iter().enumerate() {
        sqlx::query(
            "INSERT INTO order_items (order_id, line, sku, quantity, unit_price)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(order_id)
        .bind(line as i64)
        .bind(item.sku.as_str())
        .bind(item.quantity.get())
        .bind(item.unit_price.get())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    let row = sqlx::query(select_orders!("WHERE o.id = ?"))
        .bind(order_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    from_row(&row)
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn create(&self, new: &NewOrder) -> StoreResult<Written<Order>> {
        let mut tx = self.begin_write().await?;
        let order = insert(&mut tx.0, new).await?;
        tx.commit_here().await?;
        Ok(Written::unplaced(order))
    }

    async fn get(&self, _: ReadFrom, id: i64) -> StoreResult<Option<Order>> {
        let row = sqlx::query(select_orders!("WHERE o.id = ?"))
            .bind(id)
            .fetch_optional(&mut *self.reader.acquire().await?)
            .await
            .map_err(db_error)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn set_status_if_unchanged(
        &self,
        id: i64,
        seen: Version,
        to: &OrderStatus,
    ) -> StoreResult<Written<Option<Order>>> {
        let changed = sqlx::query(
            "UPDATE orders SET status = ?3, updated_at = max(?4, updated_at + 1)
             WHERE id = ?1 AND updated_at = ?2",
        )
        .bind(id)
        .bind(seen.0)
        .bind(to.as_str())
        .bind(micros(Utc::now()))
        .execute(&mut *self.writer.acquire().await?)
        .await
        .map_err(db_error)?
        .rows_affected();
        let moved = match changed {
            0 => None,
            _ => self.get(ReadFrom::Primary, id).await?,
        };
        Ok(Written::unplaced(moved))
    }

    async fn list(
        &self,
        _: ReadFrom,
        page: &PageRequest,
        filter: &OrderFilter,
    ) -> StoreResult<Vec<Order>> {
        let rows = sqlx::query(select_orders!(
            "WHERE o.id > ?1 AND (?3 IS NULL OR o.user_id = ?3) AND (?4 IS NULL OR o.status = ?4)
             ORDER BY o.id LIMIT ?2"
        ))
        .bind(page.after_id())
        .bind(page.fetch_len())
        .bind(filter.user_id)
        .bind(filter.status.as_ref().map(OrderStatus::as_str))
        .fetch_all(&mut *self.reader.acquire().await?)
        .await
        .map_err(db_error)?;
        rows.iter().map(from_row).collect()
    }
}
