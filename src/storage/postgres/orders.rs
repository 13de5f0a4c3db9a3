//! Orders on PostgreSQL. An order and its items are read in one statement
//! (items aggregated into arrays), so a page of orders costs one query
//! whatever its size; and written in one statement (data-modifying CTEs),
//! one round trip, atomic on its own, on the shared connections or inside
//! a unit of work.

use super::param::Param;
use async_trait::async_trait;
use tokio_postgres::Row;

use super::connection::Statements;
use super::errors::is_out_of_range;
use super::events::{new_event_id, order_data};
use super::ids;
use super::PgStore;
use crate::domain::{NewOrder, Order, OrderStatus, PageRequest, StoredItem, Version};
use crate::storage::{
    Constraint, OrderFilter, OrderStore, ReadFrom, StoreError, StoreResult, Written,
};

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

/// The order, its items and its `order.created` event in one statement.
const INSERT_ORDER_WITH_ITEMS: &str = concat!(
    "WITH o AS (
        INSERT INTO orders (user_id, total, currency) VALUES ($1, $2, $3)
        RETURNING id, user_id, status, currency, total, created_at, updated_at
    ), i AS (
        INSERT INTO order_items (order_id, line, sku, quantity, unit_price)
        SELECT o.id, t.line, t.sku, t.quantity, t.unit_price
        FROM o, unnest($4::smallint[], $5::text[], $6::integer[], $7::bigint[])
                AS t(line, sku, quantity, unit_price)
    ), e AS (
        INSERT INTO orderly_events (id, type, data) SELECT $8::uuid, 'order.created', ",
    order_data!(
        "(SELECT jsonb_agg(jsonb_build_array(t.sku, t.quantity, t.unit_price) ORDER BY t.line)
          FROM unnest($4::smallint[], $5::text[], $6::integer[], $7::bigint[])
               AS t(line, sku, quantity, unit_price))"
    ),
    " FROM o
    )
    SELECT id, user_id, status, currency, total, created_at, updated_at FROM o"
);

/// A status move and its `order.status_changed` event, in one statement,
/// only if the order is still at the version seen.
const MOVE_STATUS: &str = concat!(
    "WITH m AS (
        UPDATE orders SET status = $3,
            updated_at = GREATEST(now(), updated_at + interval '1 microsecond')
        WHERE id = $1 AND updated_at = $2
        RETURNING id, user_id, status, currency, total, created_at, updated_at
    ), e AS (
        INSERT INTO orderly_events (id, type, data, previous_status)
        SELECT $5::uuid, 'order.status_changed', ",
    order_data!(
        "(SELECT jsonb_agg(jsonb_build_array(i.sku, i.quantity, i.unit_price) ORDER BY i.line)
          FROM order_items i WHERE i.order_id = m.id)"
    ),
    ", $4 FROM m
    )
    SELECT id FROM m"
);

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
        id: ids::id(row, 0),
        user_id: ids::id(row, 1),
        status: OrderStatus::stored(row.get(2)),
        currency: row.get(3),
        total: row.get(4),
        created_at: row.get(5),
        updated_at: row.get(6),
        items,
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

/// The parameters of [`INSERT_ORDER_WITH_ITEMS`]: the items as columns.
struct InsertParams<'a> {
    user_id: i64,
    total: i64,
    currency: &'static str,
    lines: Vec<i16>,
    skus: Vec<&'a str>,
    quantities: Vec<i32>,
    unit_prices: Vec<i64>,
    event_id: String,
}

impl<'a> InsertParams<'a> {
    fn of(new: &'a NewOrder) -> Self {
        let items = new.items();
        Self {
            user_id: new.user_id(),
            total: new.total(),
            currency: new.currency().as_str(),
            lines: (0..items.len() as i16).collect(),
            skus: items.iter().map(|i| i.sku.as_str()).collect(),
            quantities: items.iter().map(|i| i.quantity.get()).collect(),
            unit_prices: items.iter().map(|i| i.unit_price.get()).collect(),
            event_id: new_event_id(),
        }
    }

    fn as_params(&self) -> [&dyn Param; 8] {
        [
            &self.user_id,
            &self.total,
            &self.currency,
            &self.lines,
            &self.skus,
            &self.quantities,
            &self.unit_prices,
            &self.event_id,
        ]
    }
}

/// Writes an order with its items, on the shared connections or inside a
/// transaction.
pub(super) async fn insert(on: &impl Statements, new: &NewOrder) -> StoreResult<Order> {
    let params = InsertParams::of(new);
    let row = on
        .query_one(INSERT_ORDER_WITH_ITEMS, &params.as_params())
        .await
        .map_err(|e| match is_out_of_range(&e) {
            // The only value here that can exceed its column: a user id
            // beyond an adopted schema's `integer` ids, which no user has.
            true => StoreError::Violates(Constraint::OrderUser),
            false => e,
        })?;
    Ok(created(&row, new))
}

#[async_trait]
impl OrderStore for PgStore {
    async fn create(&self, new: &NewOrder) -> StoreResult<Written<Order>> {
        let writes = self.writes();
        let order = insert(&writes, new).await?;
        Ok(writes.written(order))
    }

    async fn get(&self, from: ReadFrom, id: i64) -> StoreResult<Option<Order>> {
        let row = self
            .reads(from)
            .query_opt(select_orders!("WHERE o.id = $1"), &[&id])
            .await?;
        Ok(row.as_ref().map(from_row))
    }

    async fn set_status_if_unchanged(
        &self,
        id: i64,
        seen: Version,
        from: &OrderStatus,
        to: &OrderStatus,
    ) -> StoreResult<Written<Option<Order>>> {
        let writes = self.writes();
        let changed = writes
            .query_opt(
                MOVE_STATUS,
                &[
                    &id,
                    &seen.timestamp(),
                    &to.as_str(),
                    &from.as_str(),
                    &new_event_id(),
                ],
            )
            .await?;
        let moved = match changed {
            None => None,
            Some(_) => self.get(ReadFrom::Primary, id).await?,
        };
        Ok(writes.written(moved))
    }

    async fn list(
        &self,
        from: ReadFrom,
        page: &PageRequest,
        filter: &OrderFilter,
    ) -> StoreResult<Vec<Order>> {
        // One statement per filter shape, so each plan uses its index.
        let (after, fetch) = (page.after_id(), page.fetch_len());
        let status = filter.status.as_ref().map(OrderStatus::as_str);
        let reads = self.reads(from);
        let rows = match (&filter.user_id, &status) {
            (None, None) => {
                let sql = select_orders!("WHERE o.id > $1 ORDER BY o.id LIMIT $2");
                reads.query(sql, &[&after, &fetch]).await?
            }
            (Some(user_id), None) => {
                let sql =
                    select_orders!("WHERE o.user_id = $3 AND o.id > $1 ORDER BY o.id LIMIT $2");
                reads.query(sql, &[&after, &fetch, user_id]).await?
            }
            (None, Some(status)) => {
                let sql =
                    select_orders!("WHERE o.status = $3 AND o.id > $1 ORDER BY o.id LIMIT $2");
                reads.query(sql, &[&after, &fetch, status]).await?
            }
            (Some(user_id), Some(status)) => {
                let sql = select_orders!(
                    "WHERE o.user_id = $3 AND o.status = $4 AND o.id > $1 ORDER BY o.id LIMIT $2"
                );
                reads.query(sql, &[&after, &fetch, user_id, status]).await?
            }
        };
        Ok(rows.iter().map(from_row).collect())
    }
}
