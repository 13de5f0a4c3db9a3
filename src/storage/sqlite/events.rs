//! Events on SQLite: written by the writer in the change's own savepoint,
//! so an event commits, or not, with its change. One writer commits at a
//! time, so `seq` order is commit order and the feed needs no horizon.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row};

use super::{from_micros, micros, SqliteStore};
use crate::domain::{Event, EventId, EventType, FeedPosition, Order, OrderStatus, User};
use crate::storage::events::{
    order_snapshot, purge_in_batches, user_snapshot, EventRow, PURGE_BATCH,
};
use crate::storage::{EventStore, StoreError, StoreResult};

/// Writes the event of a change to `user`, on the writer.
pub(super) fn record_user(conn: &Connection, kind: EventType, user: &User) -> StoreResult<()> {
    insert(conn, kind, &user_snapshot(user), None)
}

/// Writes the event of a change to `order`; `previous` for a status move.
pub(super) fn record_order(
    conn: &Connection,
    kind: EventType,
    order: &Order,
    previous: Option<&OrderStatus>,
) -> StoreResult<()> {
    insert(
        conn,
        kind,
        &order_snapshot(order),
        previous.map(OrderStatus::as_str),
    )
}

fn insert(
    conn: &Connection,
    kind: EventType,
    data: &str,
    previous: Option<&str>,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO orderly_events (id, type, created_at, data, previous_status)
         VALUES (?, ?, ?, ?, ?)",
    )?
    .execute(params![
        EventId::generate().0.simple().to_string(),
        kind.as_str(),
        micros(Utc::now()),
        data,
        previous
    ])?;
    Ok(())
}

/// The columns `event_from_row` reads, events as `e`.
macro_rules! event_columns {
    () => {
        "e.seq, e.id, e.type, e.created_at, e.data, e.previous_status"
    };
}
pub(super) use event_columns;

/// An event from `event_columns!` starting at column `first`.
pub(super) fn event_from_row(row: &Row, first: usize) -> rusqlite::Result<StoreResult<Event>> {
    let id: String = row.get(first + 1)?;
    let Ok(id) = uuid::Uuid::try_parse(&id) else {
        return Ok(Err(StoreError::Other(anyhow::anyhow!(
            "reading an event id: `{id}` is not one"
        ))));
    };
    Ok(EventRow {
        position: FeedPosition {
            xid: 0,
            seq: row.get(first)?,
        },
        id,
        kind: row.get(first + 2)?,
        created_at: from_micros(row.get(first + 3)?),
        data: row.get(first + 4)?,
        previous_status: row.get(first + 5)?,
    }
    .into_event())
}

fn feed(
    conn: &Connection,
    after: FeedPosition,
    limit: i64,
    types: Option<&str>,
) -> StoreResult<Vec<Event>> {
    let mut select = conn.prepare_cached(concat!(
        "SELECT ",
        event_columns!(),
        " FROM orderly_events e
         WHERE e.seq > ?1 AND (?3 IS NULL OR e.type IN (SELECT value FROM json_each(?3)))
         ORDER BY e.seq LIMIT ?2"
    ))?;
    let rows = select.query_map(params![after.seq, limit, types], |row| {
        event_from_row(row, 0)
    })?;
    rows.map(|row| row?).collect()
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn feed(
        &self,
        after: FeedPosition,
        limit: i64,
        types: Option<&[EventType]>,
    ) -> StoreResult<Vec<Event>> {
        let types = types.map(|t| {
            serde_json::Value::from(t.iter().map(|t| t.as_str()).collect::<Vec<_>>()).to_string()
        });
        self.readers
            .read(|conn| feed(conn, after, limit, types.as_deref()))
    }

    async fn purge_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let before = micros(before);
        // Read first: a purge with nothing to purge takes no writer turn.
        let any = self.readers.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM orderly_events WHERE created_at < ?)",
                )?
                .query_row([before], |row| row.get::<_, bool>(0))?)
        })?;
        if !any {
            return Ok(0);
        }
        purge_in_batches(async || {
            let deleted = self
                .writer
                .write(move |conn| {
                    Ok(conn
                        .prepare_cached(
                            "DELETE FROM orderly_events WHERE seq IN
                                (SELECT seq FROM orderly_events WHERE created_at < ? LIMIT ?)",
                        )?
                        .execute(params![before, PURGE_BATCH])?)
                })
                .await?;
            Ok(deleted as i64)
        })
        .await
    }
}
