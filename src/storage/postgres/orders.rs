//! Orders on PostgreSQL. An order and its items are read in one statement
//! (items aggregated into arrays), so a page of orders costs one query
//! whatever its size; and written in one statement (data-modifying CTEs),
//! one round trip, atomic on its own, unless an idempotency key asks for a
//! transaction.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{db_error, keys, PgStore};
use crate::domain::{NewOrder, Order, OrderStatus, PageRequest, StoredItem, Version};
use crate::storage::{Created, Idempotent, OrderFilter, StoreError, StoreResult};

/// The order-with-items query followed by `$tail`, as one `'static` string
/// (statements are prepared once per connection, keyed by their text).
macro_rules! select_orders {
    ($tail:literal) => {
        concat!(
            "SELECT o.id, o.user_id, o.status, o.currency, o.total, o.created_at, o.updated_at,
                    i.skus, i.quantities, i.unit_prices
             FROM orders o
             CROSS JOIN LATERAL (
                 SELECT array_agg(sku ORDER BY line) AS skus,
                        array_agg(quantity ORDER BY line) AS quantities,
                        array_agg(unit_price ORDER BY line) AS unit_prices
                 FROM order_items WHERE order_id = o.id) i ",
            $tail
        )
    };
}

/// The order and its items in one statement. `$8` is the test-only fault
/// point: when set, inserting the items fails after the order row is
/// written (a run-time division by zero, which the planner cannot fold).
const INSERT_ORDER_WITH_ITEMS: &str = "WITH o AS (
        INSERT INTO orders (user_id, total, currency) VALUES ($1, $2, $3)
        RETURNING id, user_id, status, currency, total, created_at, updated_at
    ), i AS (
        INSERT INTO order_items (order_id, line, sku, quantity, unit_price)
        SELECT o.id, t.line, t.sku, t.quantity, t.unit_price
        FROM o, unnest($4::smallint[], $5::text[], $6::integer[], $7::bigint[])
                AS t(line, sku, quantity, unit_price)
        WHERE CASE WHEN $8::boolean THEN 1 / (t.quantity - t.quantity) = 0 ELSE true END
    )
    SELECT id, user_id, status, currency, total, created_at, updated_at FROM o";

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
    order_with(row, items)
}

/// An order from the first seven columns of `row`, with these items.
fn order_with(row: &Row, items: Vec<StoredItem>) -> Order {
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
    unknown_user(db_error(e))
}

/// The item columns of `new`, as the arrays the insert statements unnest.
struct ItemArrays<'a> {
    lines: Vec<i16>,
    skus: Vec<&'a str>,
    quantities: Vec<i32>,
    unit_prices: Vec<i64>,
}

impl<'a> ItemArrays<'a> {
    fn of(new: &'a NewOrder) -> Self {
        let items = new.items();
        Self {
            lines: (0..items.len() as i16).collect(),
            skus: items.iter().map(|i| i.sku.as_str()).collect(),
            quantities: items.iter().map(|i| i.quantity.get()).collect(),
            unit_prices: items.iter().map(|i| i.unit_price.get()).collect(),
        }
    }
}

/// The order just written: its row as returned, its items as sent.
fn created(row: &Row, new: &NewOrder) -> Order {
    let items = new
        .items()
        .iter()
        .map(|i| StoredItem {
            sku: i.sku.as_str().to_owned(),
            quantity: i.quantity.get().into(),
            unit_price: i.unit_price.get(),
        })
        .collect();
    order_with(row, items)
}

pub async fn create(
    store: &PgStore,
    new: &NewOrder,
    idempotent: Option<Idempotent<'_, Order>>,
) -> StoreResult<Created<Order>> {
    let currency = new.currency();
    let currency = currency.as_str();
    let a = ItemArrays::of(new);
    let Some(idem) = idempotent else {
        let fault = store.faults.fail_order_before_items;
        let params: [&(dyn ToSql + Sync); 8] = [
            &new.user_id(),
            &new.total(),
            &currency,
            &a.lines,
            &a.skus,
            &a.quantities,
            &a.unit_prices,
            &fault,
        ];
        let row = store
            .writers
            .query_opt(INSERT_ORDER_WITH_ITEMS, &params)
            .await
            .map_err(unknown_user)?
            .ok_or_else(|| StoreError::Other(anyhow::anyhow!("INSERT returned no row")))?;
        return Ok(Created::New(created(&row, new)));
    };

    // With a key: claim it, write the order, its items and the stored
    // response, and commit them together.
    let mut conn = store.conn().await?;
    let tx = conn.transaction().await.map_err(db_error)?;
    if let Some(response) = keys::claim(&tx, idem.key).await? {
        return Ok(Created::Replayed(response));
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
    let row = tx
        .query_one(&insert_order, &[&new.user_id(), &new.total(), &currency])
        .await
        .map_err(create_error)?;
    if store.faults.fail_order_before_items {
        return Err(StoreError::Other(anyhow::anyhow!(
            "injected fault: order written, items not"
        )));
    }
    let order = created(&row, new);
    tx.execute(
        &insert_items,
        &[&order.id, &a.lines, &a.skus, &a.quantities, &a.unit_prices],
    )
    .await
    .map_err(create_error)?;
    keys::record(&tx, idem.key, &(idem.render)(&order)).await?;
    tx.commit().await.map_err(create_error)?;
    Ok(Created::New(order))
}

/// On creating an order, the foreign key's refusal means an unknown user.
fn unknown_user(e: StoreError) -> StoreError {
    match e {
        StoreError::UserHasOrders => StoreError::UnknownUser,
        other => other,
    }
}

pub async fn get(store: &PgStore, id: i64) -> StoreResult<Order> {
    let row = store
        .readers
        .query_opt(select_orders!("WHERE o.id = $1"), &[&id])
        .await?;
    row.as_ref().map(from_row).ok_or(StoreError::NotFound)
}

pub async fn set_status_if_unchanged(
    store: &PgStore,
    id: i64,
    seen: Version,
    to: OrderStatus,
) -> StoreResult<Option<Order>> {
    let sql = "UPDATE orders SET status = $3,
                   updated_at = GREATEST(now(), updated_at + interval '1 microsecond')
               WHERE id = $1 AND updated_at = $2";
    match store
        .writers
        .execute(sql, &[&id, &seen.timestamp(), &to.as_str()])
        .await?
    {
        0 => Ok(None),
        _ => get(store, id).await.map(Some),
    }
}

pub async fn list(
    store: &PgStore,
    page: &PageRequest,
    filter: &OrderFilter,
) -> StoreResult<Vec<Order>> {
    // One statement per filter shape, so each plan uses its index.
    let (after, fetch) = (page.after_id(), page.fetch_len());
    let status = filter.status.map(OrderStatus::as_str);
    let rows = match (&filter.user_id, &status) {
        (None, None) => {
            let sql = select_orders!("WHERE o.id > $1 ORDER BY o.id LIMIT $2");
            store.readers.query(sql, &[&after, &fetch]).await?
        }
        (Some(user_id), None) => {
            let sql = select_orders!("WHERE o.user_id = $3 AND o.id > $1 ORDER BY o.id LIMIT $2");
            store.readers.query(sql, &[&after, &fetch, user_id]).await?
        }
        (None, Some(status)) => {
            let sql = select_orders!("WHERE o.status = $3 AND o.id > $1 ORDER BY o.id LIMIT $2");
            store.readers.query(sql, &[&after, &fetch, status]).await?
        }
        (Some(user_id), Some(status)) => {
            let sql = select_orders!(
                "WHERE o.user_id = $3 AND o.status = $4 AND o.id > $1 ORDER BY o.id LIMIT $2"
            );
            store
                .readers
                .query(sql, &[&after, &fetch, user_id, status])
                .await?
        }
    };
    Ok(rows.iter().map(from_row).collect())
}
