//! Orders on PostgreSQL. An order and its items are read in one statement
//! (items aggregated into arrays), so a page of orders costs one query
//! whatever its size.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{db_error, keys, PgStore};
use crate::domain::{NewOrder, Order, OrderStatus, PageRequest, StoredItem, Version};
use crate::storage::{Created, Idempotent, OrderFilter, StoreError, StoreResult};

const SELECT: &str =
    "SELECT o.id, o.user_id, o.status, o.currency, o.total, o.created_at, o.updated_at,
           i.skus, i.quantities, i.unit_prices
    FROM orders o
    CROSS JOIN LATERAL (
        SELECT array_agg(sku ORDER BY line) AS skus,
               array_agg(quantity ORDER BY line) AS quantities,
               array_agg(unit_price ORDER BY line) AS unit_prices
        FROM order_items WHERE order_id = o.id) i";

fn from_row(row: &Row) -> Order {
    let skus: Vec<String> = row.get::<_, Option<_>>(7).unwrap_or_default();
    let quantities: Vec<i32> = row.get::<_, Option<_>>(8).unwrap_or_default();
    let unit_prices: Vec<i64> = row.get::<_, Option<_>>(9).unwrap_or_default();
    let items = skus
        .into_iter()
        .zip(quantities)
        .zip(unit_prices)
        .map(|((sku, quantity), unit_price)| StoredItem {
            sku,
            quantity: quantity.into(),
            unit_price,
        })
        .collect();
    Order {
        id: row.get(0),
        user_id: row.get(1),
        status: row.get(2),
        currency: row.get(3),
        total: row.get(4),
        created_at: row.get(5),
        updated_at: row.get(6),
        items,
    }
}

/// The foreign key on `orders.user_id` refuses an unknown user at commit.
fn create_error(e: tokio_postgres::Error) -> StoreError {
    match db_error(e) {
        StoreError::UserHasOrders => StoreError::UnknownUser,
        other => other,
    }
}

pub async fn create(
    store: &PgStore,
    new: &NewOrder,
    idempotent: Option<Idempotent<'_, Order>>,
) -> StoreResult<Created<Order>> {
    let mut conn = store.conn().await?;
    let tx = conn.transaction().await.map_err(db_error)?;
    if let Some(idem) = &idempotent {
        if let Some(response) = keys::claim(&tx, idem.key).await? {
            return Ok(Created::Replayed(response));
        }
    }
    let insert_order = tx
        .prepare_cached(
            "INSERT INTO orders (user_id, total, currency) VALUES ($1, $2, $3)
             RETURNING id, user_id, status, currency, total, created_at, updated_at",
        )
        .await
        .map_err(db_error)?;
    let insert_items = tx
        .prepare_cached(
            "INSERT INTO order_items (order_id, line, sku, quantity, unit_price)
             SELECT $1, t.line, t.sku, t.quantity, t.unit_price
             FROM unnest($2::smallint[], $3::text[], $4::integer[], $5::bigint[])
                  AS t(line, sku, quantity, unit_price)",
        )
        .await
        .map_err(db_error)?;
    let currency = new.currency();
    let currency = currency.as_str();
    let row = tx
        .query_one(&insert_order, &[&new.user_id(), &new.total(), &currency])
        .await
        .map_err(create_error)?;
    if store.faults.fail_order_before_items {
        return Err(StoreError::Other(anyhow::anyhow!(
            "injected fault: order written, items not"
        )));
    }
    let items = new.items();
    let lines: Vec<i16> = (0..items.len() as i16).collect();
    let skus: Vec<&str> = items.iter().map(|i| i.sku.as_str()).collect();
    let quantities: Vec<i32> = items.iter().map(|i| i.quantity.get()).collect();
    let unit_prices: Vec<i64> = items.iter().map(|i| i.unit_price.get()).collect();
    let order_id: i64 = row.get(0);
    tx.execute(
        &insert_items,
        &[&order_id, &lines, &skus, &quantities, &unit_prices],
    )
    .await
    .map_err(create_error)?;
    let order = Order {
        id: order_id,
        user_id: row.get(1),
        status: row.get(2),
        currency: row.get(3),
        total: row.get(4),
        created_at: row.get(5),
        updated_at: row.get(6),
        items: items
            .iter()
            .map(|i| StoredItem {
                sku: i.sku.as_str().to_owned(),
                quantity: i.quantity.get().into(),
                unit_price: i.unit_price.get(),
            })
            .collect(),
    };
    if let Some(idem) = &idempotent {
        keys::record(&tx, idem.key, &(idem.render)(&order)).await?;
    }
    tx.commit().await.map_err(create_error)?;
    Ok(Created::New(order))
}

pub async fn get(store: &PgStore, id: i64) -> StoreResult<Order> {
    let conn = store.conn().await?;
    let statement = conn
        .prepare_cached(&format!("{SELECT} WHERE o.id = $1"))
        .await
        .map_err(db_error)?;
    let row = conn.query_opt(&statement, &[&id]).await.map_err(db_error)?;
    row.as_ref().map(from_row).ok_or(StoreError::NotFound)
}

pub async fn set_status_if_unchanged(
    store: &PgStore,
    id: i64,
    seen: Version,
    to: OrderStatus,
) -> StoreResult<Option<Order>> {
    let conn = store.conn().await?;
    let statement = conn
        .prepare_cached(
            "UPDATE orders SET status = $3,
                 updated_at = GREATEST(now(), updated_at + interval '1 microsecond')
             WHERE id = $1 AND updated_at = $2",
        )
        .await
        .map_err(db_error)?;
    let changed = conn
        .execute(&statement, &[&id, &seen.timestamp(), &to.as_str()])
        .await
        .map_err(db_error)?;
    drop(conn);
    match changed {
        0 => Ok(None),
        _ => get(store, id).await.map(Some),
    }
}

pub async fn list(
    store: &PgStore,
    page: &PageRequest,
    filter: &OrderFilter,
) -> StoreResult<Vec<Order>> {
    // One prepared statement per filter shape, so each plan uses its index.
    let mut sql = format!("{SELECT} WHERE o.id > $1");
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(4);
    let after = page.after_id();
    let fetch = page.fetch_len();
    params.push(&after);
    params.push(&fetch);
    let status = filter.status.map(OrderStatus::as_str);
    if let Some(user_id) = &filter.user_id {
        params.push(user_id);
        sql.push_str(&format!(" AND o.user_id = ${}", params.len()));
    }
    if let Some(status) = &status {
        params.push(status);
        sql.push_str(&format!(" AND o.status = ${}", params.len()));
    }
    sql.push_str(" ORDER BY o.id LIMIT $2");
    let conn = store.conn().await?;
    let statement = conn.prepare_cached(&sql).await.map_err(db_error)?;
    let rows = conn.query(&statement, &params).await.map_err(db_error)?;
    Ok(rows.iter().map(from_row).collect())
}
