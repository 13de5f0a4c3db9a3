//! Orders on SQLite. Items come with their order in the same statement, as a
//! JSON array, so a page of orders costs one query whatever its size.

use chrono::Utc;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{db_error, from_micros, keys, micros, SqliteStore};
use crate::domain::{NewOrder, Order, OrderStatus, PageRequest, StoredItem, Version};
use crate::storage::{Created, Idempotent, OrderFilter, StoreError, StoreResult};

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
        .map_err(|e| StoreError::Other(anyhow::Error::new(e).context("reading order items")))?;
    Ok(Order {
        id: row.get(0),
        user_id: row.get(1),
        status: row.get(2),
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

/// The foreign key on `orders.user_id` refuses an unknown user at commit.
fn create_error(e: sqlx::Error) -> StoreError {
    match db_error(e) {
        StoreError::UserHasOrders => StoreError::UnknownUser,
        other => other,
    }
}

pub async fn create(
    store: &SqliteStore,
    new: &NewOrder,
    idempotent: Option<Idempotent<'_, Order>>,
) -> StoreResult<Created<Order>> {
    let mut tx = store.begin_write().await?;
    if let Some(idem) = &idempotent {
        if let Some(response) = keys::claim(&mut tx, idem.key).await? {
            return Ok(Created::Replayed(response));
        }
    }
    let now = micros(Utc::now());
    let order_id: i64 = sqlx::query_scalar(
        "INSERT INTO orders (user_id, total, currency, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(new.user_id())
    .bind(new.total())
    .bind(new.currency().as_str())
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(create_error)?;
    if store.faults.fail_order_before_items {
        return Err(StoreError::Other(anyhow::anyhow!(
            "injected fault: order written, items not"
        )));
    }
    for (line, item) in new.items().iter().enumerate() {
        sqlx::query("INSERT INTO order_items (order_id, line, sku, quantity, unit_price) VALUES (?, ?, ?, ?, ?)")
            .bind(order_id)
            .bind(line as i64)
            .bind(item.sku.as_str())
            .bind(item.quantity.get())
            .bind(item.unit_price.get())
            .execute(&mut *tx)
            .await
            .map_err(create_error)?;
    }
    let row = sqlx::query(select_orders!("WHERE o.id = ?"))
        .bind(order_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    let order = from_row(&row)?;
    if let Some(idem) = &idempotent {
        keys::record(&mut tx, idem.key, &(idem.render)(&order)).await?;
    }
    tx.commit().await.map_err(create_error)?;
    Ok(Created::New(order))
}

pub async fn get(store: &SqliteStore, id: i64) -> StoreResult<Order> {
    let row = sqlx::query(select_orders!("WHERE o.id = ?"))
        .bind(id)
        .fetch_optional(&store.reader)
        .await
        .map_err(db_error)?;
    row.as_ref()
        .map(from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

pub async fn set_status_if_unchanged(
    store: &SqliteStore,
    id: i64,
    seen: Version,
    to: OrderStatus,
) -> StoreResult<Option<Order>> {
    let changed = sqlx::query(
        "UPDATE orders SET status = ?3, updated_at = max(?4, updated_at + 1)
         WHERE id = ?1 AND updated_at = ?2",
    )
    .bind(id)
    .bind(seen.0)
    .bind(to.as_str())
    .bind(micros(Utc::now()))
    .execute(&store.writer)
    .await
    .map_err(db_error)?
    .rows_affected();
    match changed {
        0 => Ok(None),
        _ => get(store, id).await.map(Some),
    }
}

pub async fn list(
    store: &SqliteStore,
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
    .bind(filter.status.map(OrderStatus::as_str))
    .fetch_all(&store.reader)
    .await
    .map_err(db_error)?;
    rows.iter().map(from_row).collect()
}
