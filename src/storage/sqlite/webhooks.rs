//! Webhook endpoints and deliveries on SQLite: each dispatcher step is one
//! job on the writer, which alone writes, so no claim can race another.
//! Leases still bound each attempt, for a process that dies mid-send.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::events::{event_columns, event_from_row};
use super::{from_micros, micros, SqliteStore};
use crate::domain::{
    Delivery, DeliveryState, Endpoint, EventId, EventType, NewEndpoint, PageRequest, WebhookSecret,
};
use crate::storage::webhooks::{Attempt, Claimed, EndpointAfter};
use crate::storage::{StoreError, StoreResult, WebhookStore};

macro_rules! endpoint_columns {
    () => {
        "id, url, event_types, enabled, disabled_reason, created_at, failures"
    };
}

fn endpoint_from_row(row: &Row) -> rusqlite::Result<StoreResult<Endpoint>> {
    let types: Option<String> = row.get(2)?;
    let types = match types.map(|t| EventType::parse_list(&t)).transpose() {
        Ok(types) => types,
        Err(e) => {
            return Ok(Err(StoreError::Other(anyhow::anyhow!(
                "reading an endpoint's event types: {e}"
            ))))
        }
    };
    Ok(Ok(Endpoint {
        id: row.get(0)?,
        url: row.get(1)?,
        event_types: types,
        enabled: row.get(3)?,
        disabled_reason: row.get(4)?,
        created_at: from_micros(row.get(5)?),
        failures: row.get(6)?,
    }))
}

macro_rules! delivery_columns {
    () => {
        "d.endpoint_id, e.id, e.type, d.event_seq, d.state, d.attempts, d.created_at,
         d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.finished_at"
    };
}

fn delivery_from_row(row: &Row) -> rusqlite::Result<StoreResult<Delivery>> {
    let (event_id, kind): (String, String) = (row.get(1)?, row.get(2)?);
    let (Ok(event_id), Ok(kind)) = (uuid::Uuid::try_parse(&event_id), EventType::parse(&kind))
    else {
        return Ok(Err(StoreError::Other(anyhow::anyhow!(
            "reading a delivery: event {event_id} of type {kind}"
        ))));
    };
    let state = DeliveryState::stored(&row.get::<_, String>(4)?);
    let at = |i| -> rusqlite::Result<_> { Ok(row.get::<_, Option<i64>>(i)?.map(from_micros)) };
    Ok(Ok(Delivery {
        endpoint_id: row.get(0)?,
        event_id: EventId(event_id),
        event_type: kind,
        seq: row.get(3)?,
        state,
        attempts: row.get(5)?,
        created_at: from_micros(row.get(6)?),
        next_attempt_at: at(7)?.filter(|_| state == DeliveryState::Pending),
        last_attempt_at: at(8)?,
        last_status: row.get(9)?,
        last_error: row.get(10)?,
        finished_at: at(11)?,
    }))
}

fn delivery(conn: &Connection, endpoint_id: i64, seq: i64) -> StoreResult<Option<Delivery>> {
    let mut select = conn.prepare_cached(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM orderly_webhook_deliveries d JOIN orderly_events e ON e.seq = d.event_seq
         WHERE d.endpoint_id = ? AND d.event_seq = ?"
    ))?;
    select
        .query_row(params![endpoint_id, seq], delivery_from_row)
        .optional()?
        .transpose()
}

fn micros_of(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn now() -> i64 {
    micros(Utc::now())
}

/// Queues each enabled endpoint's new events, up to `ahead` pending per
/// endpoint; how many deliveries.
fn queue(conn: &Connection, ahead: i64) -> StoreResult<u64> {
    let endpoints: Vec<(i64, Option<String>, i64, i64)> = conn
        .prepare_cached(
            "SELECT w.id, w.event_types, w.feed_seq,
                    (SELECT count(*) FROM orderly_webhook_deliveries d
                     WHERE d.endpoint_id = w.id AND d.state = 'pending')
             FROM orderly_webhook_endpoints w WHERE w.enabled",
        )?
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut queued = 0;
    let mut events = conn.prepare_cached(
        "SELECT seq, type FROM orderly_events WHERE seq > ? ORDER BY seq LIMIT ?",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO orderly_webhook_deliveries
             (endpoint_id, event_seq, created_at, next_attempt_at) VALUES (?, ?, ?, ?)",
    )?;
    let mut moved =
        conn.prepare_cached("UPDATE orderly_webhook_endpoints SET feed_seq = ? WHERE id = ?")?;
    for (id, types, feed_seq, pending) in endpoints {
        let room = ahead - pending;
        if room <= 0 {
            continue;
        }
        let types = types.map(|t| EventType::parse_list(&t).unwrap_or_default());
        let batch: Vec<(i64, String)> = events
            .query_map(params![feed_seq, room], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(&(last, _)) = batch.last() else {
            continue;
        };
        let at = now();
        for (seq, kind) in &batch {
            let wanted = match (&types, EventType::parse(kind)) {
                (None, _) => true,
                (Some(types), Ok(kind)) => types.contains(&kind),
                (Some(_), Err(_)) => false,
            };
            if wanted {
                queued += insert.execute(params![id, seq, at, at])? as u64;
            }
        }
        moved.execute(params![last, id])?;
    }
    Ok(queued)
}

fn claim(conn: &Connection, lease: Duration, in_flight: i64) -> StoreResult<Vec<Claimed>> {
    let now = now();
    let until = now + micros_of(lease);
    let endpoints: Vec<(i64, String, String, i32, i64)> = conn
        .prepare_cached(
            "SELECT w.id, w.url, w.secret, w.failures,
                    (SELECT count(*) FROM orderly_webhook_deliveries l
                     WHERE l.endpoint_id = w.id AND l.state = 'pending' AND l.leased_until >= ?1)
             FROM orderly_webhook_endpoints w WHERE w.enabled AND w.retry_at <= ?1",
        )?
        .query_map([now], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut due = conn.prepare_cached(
        "SELECT event_seq FROM orderly_webhook_deliveries
         WHERE endpoint_id = ?1 AND state = 'pending' AND next_attempt_at <= ?2
           AND (leased_until IS NULL OR leased_until < ?2)
         ORDER BY event_seq LIMIT ?3",
    )?;
    let mut lease_it = conn.prepare_cached(
        "UPDATE orderly_webhook_deliveries
         SET leased_until = ?3, attempts = attempts + 1, last_attempt_at = ?4
         WHERE endpoint_id = ?1 AND event_seq = ?2
         RETURNING attempts, created_at",
    )?;
    let mut event = conn.prepare_cached(concat!(
        "SELECT ",
        event_columns!(),
        " FROM orderly_events e WHERE e.seq = ?"
    ))?;
    let mut claimed = Vec::new();
    for (id, url, secret, failures, leased) in endpoints {
        let room = if failures > 0 { 1 } else { in_flight - leased };
        if room <= 0 {
            continue;
        }
        let seqs: Vec<i64> = due
            .query_map(params![id, now, room], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if failures > 0 && !seqs.is_empty() {
            conn.prepare_cached("UPDATE orderly_webhook_endpoints SET retry_at = ? WHERE id = ?")?
                .execute(params![until, id])?;
        }
        for seq in seqs {
            let (attempts, queued_at): (i32, i64) = lease_it
                .query_row(params![id, seq, until, now], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?;
            claimed.push(Claimed {
                endpoint_id: id,
                url: url.clone(),
                secret: WebhookSecret::stored(secret.clone()),
                endpoint_failures: failures,
                event: event.query_row([seq], |row| event_from_row(row, 0))??,
                attempts,
                queued_at: from_micros(queued_at),
            });
        }
    }
    Ok(claimed)
}

fn record(conn: &Connection, claimed: &Claimed, attempt: &Attempt) -> StoreResult<()> {
    let now = now();
    let finished = (attempt.state != DeliveryState::Pending).then_some(now);
    let recorded = conn
        .prepare_cached(
            "UPDATE orderly_webhook_deliveries
             SET state = ?3, leased_until = NULL, next_attempt_at = ?4, last_status = ?5,
                 last_error = ?6, finished_at = ?7
             WHERE endpoint_id = ?1 AND event_seq = ?2 AND attempts = ?8",
        )?
        .execute(params![
            claimed.endpoint_id,
            claimed.event.position.seq,
            attempt.state.as_str(),
            now + micros_of(attempt.retry_in),
            attempt.status,
            attempt.error,
            finished,
            claimed.attempts
        ])?;
    if recorded == 0 {
        // Claimed again since (the lease ran out): that claim records.
        return Ok(());
    }
    let mut endpoint = match &attempt.endpoint {
        EndpointAfter::Healthy => conn.prepare_cached(
            "UPDATE orderly_webhook_endpoints SET failures = 0, retry_at = min(retry_at, ?2)
             WHERE id = ?1",
        )?,
        EndpointAfter::Failing { .. } => conn.prepare_cached(
            "UPDATE orderly_webhook_endpoints SET failures = failures + 1, retry_at = ?2
             WHERE id = ?1",
        )?,
        EndpointAfter::Disabled { .. } => conn.prepare_cached(
            "UPDATE orderly_webhook_endpoints SET enabled = 0, disabled_reason = ?2
             WHERE id = ?1",
        )?,
    };
    match &attempt.endpoint {
        EndpointAfter::Healthy => endpoint.execute(params![claimed.endpoint_id, now])?,
        EndpointAfter::Failing { retry_in } => {
            endpoint.execute(params![claimed.endpoint_id, now + micros_of(*retry_in)])?
        }
        EndpointAfter::Disabled { reason } => {
            endpoint.execute(params![claimed.endpoint_id, reason])?
        }
    };
    Ok(())
}

impl SqliteStore {
    /// Whether `exists`, a `SELECT EXISTS` taking one time, holds now: read
    /// first, so that the dispatcher's idle polls never take the writer
    /// (each turn there is a transaction other writes wait behind).
    fn any(&self, exists: &'static str, params: impl rusqlite::Params) -> StoreResult<bool> {
        self.readers.read(|conn| {
            Ok(conn
                .prepare_cached(exists)?
                .query_row(params, |row| row.get(0))?)
        })
    }
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn add_endpoint(
        &self,
        new: &NewEndpoint,
        secret: &WebhookSecret,
    ) -> StoreResult<Endpoint> {
        let url = new.url.as_str().to_owned();
        let types = new
            .event_types
            .as_ref()
            .map(|t| t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","));
        let secret = secret.expose().to_owned();
        self.writer
            .write(move |conn| {
                // Past every event already committed: they precede it.
                let mut insert = conn.prepare_cached(concat!(
                    "INSERT INTO orderly_webhook_endpoints
                         (url, event_types, secret, created_at, feed_seq, retry_at)
                     VALUES (?1, ?2, ?3, ?4, (SELECT coalesce(max(seq), 0) FROM orderly_events), ?4)
                     RETURNING ",
                    endpoint_columns!()
                ))?;
                insert.query_row(params![url, types, secret, now()], endpoint_from_row)?
            })
            .await
    }

    async fn list_endpoints(&self, page: &PageRequest) -> StoreResult<Vec<Endpoint>> {
        self.readers.read(|conn| {
            let mut select = conn.prepare_cached(concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM orderly_webhook_endpoints WHERE id > ? ORDER BY id LIMIT ?"
            ))?;
            let rows = select.query_map(
                params![page.after_id(), page.fetch_len()],
                endpoint_from_row,
            )?;
            rows.map(|row| row?).collect()
        })
    }

    async fn endpoint(&self, id: i64) -> StoreResult<Option<Endpoint>> {
        self.readers.read(|conn| {
            let mut select = conn.prepare_cached(concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM orderly_webhook_endpoints WHERE id = ?"
            ))?;
            select
                .query_row([id], endpoint_from_row)
                .optional()?
                .transpose()
        })
    }

    async fn remove_endpoint(&self, id: i64) -> StoreResult<bool> {
        self.writer
            .write(move |conn| {
                let removed = conn
                    .prepare_cached("DELETE FROM orderly_webhook_endpoints WHERE id = ?")?
                    .execute([id])?;
                Ok(removed > 0)
            })
            .await
    }

    async fn deliveries(&self, endpoint_id: i64, page: &PageRequest) -> StoreResult<Vec<Delivery>> {
        self.readers.read(|conn| {
            let mut select = conn.prepare_cached(concat!(
                "SELECT ",
                delivery_columns!(),
                " FROM orderly_webhook_deliveries d JOIN orderly_events e ON e.seq = d.event_seq
                 WHERE d.endpoint_id = ? AND d.event_seq > ? ORDER BY d.event_seq LIMIT ?"
            ))?;
            let rows = select.query_map(
                params![endpoint_id, page.after_id(), page.fetch_len()],
                delivery_from_row,
            )?;
            rows.map(|row| row?).collect()
        })
    }

    async fn resend(&self, endpoint_id: i64, event: EventId) -> StoreResult<Option<Delivery>> {
        let event = event.0.simple().to_string();
        self.writer
            .write(move |conn| {
                let now = now();
                let seq: Option<i64> = conn
                    .prepare_cached(
                        "UPDATE orderly_webhook_deliveries
                         SET state = 'pending', created_at = ?3, next_attempt_at = ?3,
                             leased_until = NULL, finished_at = NULL
                         WHERE endpoint_id = ?1
                           AND event_seq = (SELECT seq FROM orderly_events WHERE id = ?2)
                         RETURNING event_seq",
                    )?
                    .query_row(params![endpoint_id, event, now], |row| row.get(0))
                    .optional()?;
                let Some(seq) = seq else {
                    return Ok(None);
                };
                conn.prepare_cached(
                    "UPDATE orderly_webhook_endpoints SET retry_at = min(retry_at, ?2) WHERE id = ?1",
                )?
                .execute(params![endpoint_id, now])?;
                delivery(conn, endpoint_id, seq)
            })
            .await
    }

    async fn queue_deliveries(&self, ahead: i64) -> StoreResult<u64> {
        let anything_new = "SELECT EXISTS (SELECT 1 FROM orderly_webhook_endpoints w
             WHERE w.enabled AND EXISTS (SELECT 1 FROM orderly_events e WHERE e.seq > w.feed_seq)
               AND (SELECT count(*) FROM orderly_webhook_deliveries d
                    WHERE d.endpoint_id = w.id AND d.state = 'pending') < ?1)";
        match self.any(anything_new, [ahead])? {
            true => self.writer.write(move |conn| queue(conn, ahead)).await,
            false => Ok(0),
        }
    }

    async fn claim(&self, lease: Duration, in_flight: i64) -> StoreResult<Vec<Claimed>> {
        let anything_due = "SELECT EXISTS (SELECT 1 FROM orderly_webhook_deliveries d
             JOIN orderly_webhook_endpoints w ON w.id = d.endpoint_id
             WHERE d.state = 'pending' AND w.enabled AND w.retry_at <= ?1
               AND d.next_attempt_at <= ?1 AND (d.leased_until IS NULL OR d.leased_until < ?1))";
        match self.any(anything_due, [now()])? {
            true => {
                self.writer
                    .write(move |conn| claim(conn, lease, in_flight))
                    .await
            }
            false => Ok(Vec::new()),
        }
    }

    async fn record(&self, claimed: &Claimed, attempt: &Attempt) -> StoreResult<()> {
        let (claimed, attempt) = (claimed.clone(), attempt.clone());
        self.writer
            .write(move |conn| record(conn, &claimed, &attempt))
            .await
    }

    async fn give_up_after(&self, period: Duration) -> StoreResult<u64> {
        let anything_late = "SELECT EXISTS (SELECT 1 FROM orderly_webhook_deliveries
             WHERE state = 'pending' AND created_at < ?1)";
        if !self.any(anything_late, [now() - micros_of(period)])? {
            return Ok(0);
        }
        self.writer
            .write(move |conn| {
                let now = now();
                let given_up = conn
                    .prepare_cached(
                        "UPDATE orderly_webhook_deliveries
                         SET state = 'failed', finished_at = ?1,
                             last_error = coalesce(last_error || '; ', '')
                                 || 'gave up: not delivered within the retry period'
                         WHERE state = 'pending' AND created_at < ?2
                           AND (leased_until IS NULL OR leased_until < ?1)",
                    )?
                    .execute(params![now, now - micros_of(period)])?;
                Ok(given_up as u64)
            })
            .await
    }

    async fn oldest_pending_age(&self) -> StoreResult<Option<Duration>> {
        let oldest: Option<i64> = self.readers.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT min(created_at) FROM orderly_webhook_deliveries WHERE state = 'pending'",
                )?
                .query_row([], |row| row.get(0))?)
        })?;
        Ok(oldest.map(|at| Duration::from_micros((now() - at).max(0) as u64)))
    }
}
