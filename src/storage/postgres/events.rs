//! Events on PostgreSQL. Each change's statement writes its event itself,
//! in a data-modifying CTE built from the macros here, so that the event
//! commits or rolls back with the change (one round trip, no transaction
//! held open). The feed serves only below the oldest transaction of this
//! database still running (`feed_horizon!`), from the primary.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::connection::Statements;
use super::PgStore;
use crate::domain::{Event, EventType, FeedPosition};
use crate::storage::events::{purge_in_batches, EventRow, PURGE_BATCH};
use crate::storage::{EventStore, ReadFrom, StoreError, StoreResult};

/// Microseconds since the epoch of the timestamp column `$col`.
macro_rules! micros {
    ($col:literal) => {
        concat!("(extract(epoch FROM ", $col, ") * 1000000)::bigint")
    };
}
pub(super) use micros;

/// The event data of a user row in scope (`storage::events::UserRow`).
macro_rules! user_data {
    () => {
        concat!(
            "jsonb_build_object('id', id, 'email', email, 'name', name, 'created_at', ",
            $crate::storage::postgres::events::micros!("created_at"),
            ", 'updated_at', ",
            $crate::storage::postgres::events::micros!("updated_at"),
            ")"
        )
    };
}
pub(super) use user_data;

/// The event data of an order row in scope, with `$items` (a JSON array
/// of `[sku, quantity, unit_price]`, `storage::events::OrderRow`).
macro_rules! order_data {
    ($items:literal) => {
        concat!(
            "jsonb_build_object('id', id, 'user_id', user_id, 'status', status, 'currency', currency,
                                'total', total, 'created_at', ",
            $crate::storage::postgres::events::micros!("created_at"),
            ", 'updated_at', ",
            $crate::storage::postgres::events::micros!("updated_at"),
            ", 'items', ",
            $items,
            ")"
        )
    };
}
pub(super) use order_data;

/// A new event's id, made here rather than by the server's
/// `gen_random_uuid()`: a time-ordered UUIDv7 lands beside the last one in
/// the id's index (see `EventId::generate`).
pub(super) fn new_event_id() -> String {
    crate::domain::EventId::generate().0.to_string()
}

/// The feed's horizon, as a scalar subquery: the oldest transaction still
/// running in the statement's snapshot (or the snapshot's end if none), so
/// that every event below it has committed or never will, and none can
/// still appear before one already served. A transaction seen running in
/// another database of the server never writes here, so it does not hold
/// orderly's feed back; one not seen running (ended since the snapshot, or
/// a prepared transaction, which has no session) still does, which only
/// delays. That another database is another is for good, so a stale view
/// of it is still right. (The statistics function, not its view: half the
/// planning, which a server without prepared statements pays each time.)
macro_rules! feed_horizon {
    () => {
        "(SELECT coalesce(
              (SELECT min(x) FROM pg_snapshot_xip(snap.s) x
               WHERE x::xid NOT IN (
                   SELECT a.backend_xid FROM pg_catalog.pg_stat_get_activity(NULL) a
                   WHERE a.backend_xid IS NOT NULL AND a.datid <> (SELECT oid
                       FROM pg_catalog.pg_database WHERE datname = current_database()))),
              pg_snapshot_xmax(snap.s))::text::bigint
          FROM (SELECT pg_current_snapshot() AS s) snap)"
    };
}
pub(super) use feed_horizon;

/// The columns every event read takes, in `event_from_row`'s order.
macro_rules! event_columns {
    ($alias:literal) => {
        concat!(
            $alias,
            ".seq, ",
            $alias,
            ".xid, ",
            $alias,
            ".id::text, ",
            $alias,
            ".type, ",
            $alias,
            ".created_at, ",
            $alias,
            ".data::text, ",
            $alias,
            ".previous_status"
        )
    };
}
pub(super) use event_columns;

/// An event from `event_columns!` starting at column `first`.
pub(super) fn event_from_row(row: &Row, first: usize) -> StoreResult<Event> {
    let id: String = row.get(first + 2);
    EventRow {
        position: FeedPosition {
            seq: row.get(first),
            xid: row.get(first + 1),
        },
        id: uuid::Uuid::try_parse(&id).map_err(|e| StoreError::other("reading an event id", e))?,
        kind: row.get(first + 3),
        created_at: row.get(first + 4),
        data: row.get(first + 5),
        previous_status: row.get(first + 6),
    }
    .into_event()
}

#[async_trait]
impl EventStore for PgStore {
    async fn feed(
        &self,
        after: FeedPosition,
        limit: i64,
        types: Option<&[EventType]>,
    ) -> StoreResult<Vec<Event>> {
        const SQL: &str = concat!(
            "SELECT ",
            event_columns!("e"),
            " FROM orderly_events e
             WHERE (e.xid, e.seq) > ($1, $2)
               AND e.xid < ",
            feed_horizon!(),
            "
               AND ($4::text[] IS NULL OR e.type = ANY($4))
             ORDER BY e.xid, e.seq LIMIT $3"
        );
        let types: Option<Vec<&str>> = types.map(|t| t.iter().map(|t| t.as_str()).collect());
        let rows = self
            .reads(ReadFrom::Primary)
            .query(SQL, &[&after.xid, &after.seq, &limit, &types])
            .await?;
        rows.iter().map(|row| event_from_row(row, 0)).collect()
    }

    async fn purge_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        // In batches: no statement runs long or holds many locks.
        let sql = "WITH gone AS (
                DELETE FROM orderly_events WHERE seq IN
                    (SELECT seq FROM orderly_events WHERE created_at < $1 LIMIT $2)
                RETURNING 1)
            SELECT count(*) FROM gone";
        purge_in_batches(async || {
            let row = self
                .writes()
                .query_one(sql, &[&before, &PURGE_BATCH])
                .await?;
            Ok(row.get::<_, i64>(0))
        })
        .await
    }
}
