//! Webhook endpoints and deliveries on PostgreSQL. Every step of the
//! dispatcher is one statement: queueing (each endpoint's place in the
//! feed moves with the deliveries it queued), claiming (`FOR UPDATE SKIP
//! LOCKED`, so that instances never claim the same delivery, then a lease
//! rather than a lock held across the send), and recording an attempt
//! (only by the claim that made it: a lease that ran out and was claimed
//! again is not overwritten).

use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::Row;

use super::connection::Statements;
use super::events::{event_columns, event_from_row, feed_horizon};
use super::PgStore;
use crate::domain::{
    Delivery, DeliveryState, Endpoint, EventId, EventType, NewEndpoint, PageRequest, WebhookSecret,
};
use crate::storage::webhooks::{Attempt, Claimed, EndpointAfter};
use crate::storage::{ReadFrom, StoreError, StoreResult, WebhookStore};

fn endpoint_from_row(row: &Row) -> StoreResult<Endpoint> {
    let types: Option<Vec<String>> = row.get(2);
    Ok(Endpoint {
        id: row.get(0),
        url: row.get(1),
        event_types: types.map(|t| stored_types(&t)).transpose()?,
        enabled: row.get(3),
        disabled_reason: row.get(4),
        created_at: row.get(5),
        failures: row.get(6),
    })
}

/// Event types as stored; one orderly does not know is corrupt data.
fn stored_types(raw: &[impl AsRef<str>]) -> StoreResult<Vec<EventType>> {
    raw.iter()
        .map(|t| EventType::parse(t.as_ref()))
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Other(anyhow::anyhow!("reading an endpoint's event types: {e}")))
}

/// The columns `delivery_from_row` reads, deliveries as `d`, events as `e`.
macro_rules! delivery_columns {
    () => {
        "d.endpoint_id, e.id::text, e.type, d.event_seq, d.state, d.attempts, d.created_at,
         d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.finished_at"
    };
}

fn delivery_from_row(row: &Row) -> StoreResult<Delivery> {
    let event_id: String = row.get(1);
    let kind: String = row.get(2);
    let state = DeliveryState::stored(row.get(4));
    Ok(Delivery {
        endpoint_id: row.get(0),
        event_id: EventId(
            uuid::Uuid::try_parse(&event_id)
                .map_err(|e| StoreError::other("reading an event id", e))?,
        ),
        event_type: stored_types(&[kind])?[0],
        seq: row.get(3),
        state,
        attempts: row.get(5),
        created_at: row.get(6),
        next_attempt_at: (state == DeliveryState::Pending).then(|| row.get(7)),
        last_attempt_at: row.get(8),
        last_status: row.get(9),
        last_error: row.get(10),
        finished_at: row.get(11),
    })
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn add_endpoint(
        &self,
        new: &NewEndpoint,
        secret: &WebhookSecret,
    ) -> StoreResult<Endpoint> {
        let sql = "INSERT INTO orderly_webhook_endpoints (url, event_types, secret)
                   VALUES ($1, $2, $3)
                   RETURNING id, url, event_types, enabled, disabled_reason, created_at, failures";
        let types: Option<Vec<&str>> = new
            .event_types
            .as_ref()
            .map(|t| t.iter().map(|t| t.as_str()).collect());
        let row = self
            .writes()
            .query_one(sql, &[&new.url.as_str(), &types, &secret.expose()])
            .await?;
        endpoint_from_row(&row)
    }

    async fn list_endpoints(&self, page: &PageRequest) -> StoreResult<Vec<Endpoint>> {
        let sql = "SELECT id, url, event_types, enabled, disabled_reason, created_at, failures
                   FROM orderly_webhook_endpoints WHERE id > $1 ORDER BY id LIMIT $2";
        let rows = self
            .reads(ReadFrom::Primary)
            .query(sql, &[&page.after_id(), &page.fetch_len()])
            .await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    async fn endpoint(&self, id: i64) -> StoreResult<Option<Endpoint>> {
        let sql = "SELECT id, url, event_types, enabled, disabled_reason, created_at, failures
                   FROM orderly_webhook_endpoints WHERE id = $1";
        let row = self.reads(ReadFrom::Primary).query_opt(sql, &[&id]).await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    async fn remove_endpoint(&self, id: i64) -> StoreResult<bool> {
        let sql = "DELETE FROM orderly_webhook_endpoints WHERE id = $1 RETURNING id";
        Ok(self.writes().query_opt(sql, &[&id]).await?.is_some())
    }

    async fn deliveries(&self, endpoint_id: i64, page: &PageRequest) -> StoreResult<Vec<Delivery>> {
        let sql = concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM orderly_webhook_deliveries d JOIN orderly_events e ON e.seq = d.event_seq
             WHERE d.endpoint_id = $1 AND d.event_seq > $2 ORDER BY d.event_seq LIMIT $3"
        );
        let rows = self
            .reads(ReadFrom::Primary)
            .query(sql, &[&endpoint_id, &page.after_id(), &page.fetch_len()])
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn resend(&self, endpoint_id: i64, event: EventId) -> StoreResult<Option<Delivery>> {
        // The endpoint's wait is lifted too: an operator asked for it now.
        let sql = concat!(
            "WITH d AS (
                UPDATE orderly_webhook_deliveries d
                SET state = 'pending', created_at = now(), next_attempt_at = now(),
                    leased_until = NULL, finished_at = NULL
                FROM orderly_events e
                WHERE d.endpoint_id = $1 AND d.event_seq = e.seq AND e.id = $2::uuid
                RETURNING d.*
             ), now_due AS (
                UPDATE orderly_webhook_endpoints SET retry_at = LEAST(retry_at, now())
                WHERE id = $1 AND EXISTS (SELECT 1 FROM d)
             )
             SELECT ",
            delivery_columns!(),
            " FROM d JOIN orderly_events e ON e.seq = d.event_seq"
        );
        let id = event.0.to_string();
        let row = self.writes().query_opt(sql, &[&endpoint_id, &id]).await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    async fn queue_deliveries(&self, ahead: i64) -> StoreResult<u64> {
        // Below the feed's horizon, as the feed itself serves: an event
        // still to commit below an endpoint's place is impossible.
        const SQL: &str = concat!(
            "WITH ep AS (
                SELECT w.id, w.event_types, w.feed_xid, w.feed_seq,
                       $1 - (SELECT count(*) FROM orderly_webhook_deliveries d
                             WHERE d.endpoint_id = w.id AND d.state = 'pending') AS room
                FROM orderly_webhook_endpoints w
                WHERE w.enabled FOR UPDATE SKIP LOCKED
            ), horizon AS (
                SELECT ",
            feed_horizon!(),
            " AS xmin
            ), batch AS (
                SELECT ep.id AS endpoint_id, ep.event_types, ev.seq, ev.xid, ev.type
                FROM ep CROSS JOIN horizon CROSS JOIN LATERAL (
                    SELECT seq, xid, type FROM orderly_events
                    WHERE (xid, seq) > (ep.feed_xid, ep.feed_seq) AND xid < horizon.xmin
                    ORDER BY xid, seq LIMIT greatest(ep.room, 0)) ev
            ), queued AS (
                INSERT INTO orderly_webhook_deliveries (endpoint_id, event_seq, event_xid)
                SELECT endpoint_id, seq, xid FROM batch
                WHERE event_types IS NULL OR type = ANY(event_types)
                ON CONFLICT DO NOTHING RETURNING 1
            ), moved AS (
                UPDATE orderly_webhook_endpoints w SET feed_xid = last.xid, feed_seq = last.seq
                FROM (SELECT DISTINCT ON (endpoint_id) endpoint_id, xid, seq FROM batch
                      ORDER BY endpoint_id, xid DESC, seq DESC) last
                WHERE w.id = last.endpoint_id
            )
            SELECT count(*) FROM queued"
        );
        let row = self.writes().query_one(SQL, &[&ahead]).await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn claim(&self, lease: Duration, in_flight: i64) -> StoreResult<Vec<Claimed>> {
        let sql = concat!(
            "WITH ep AS (
                SELECT w.id, w.url, w.secret, w.failures,
                       CASE WHEN w.failures > 0 THEN 1
                            ELSE $2 - (SELECT count(*) FROM orderly_webhook_deliveries l
                                       WHERE l.endpoint_id = w.id AND l.state = 'pending'
                                         AND l.leased_until >= now()) END AS room
                FROM orderly_webhook_endpoints w
                WHERE w.enabled AND w.retry_at <= now()
                FOR UPDATE SKIP LOCKED
            ), candidates AS (
                SELECT c.endpoint_id, c.event_seq
                FROM ep CROSS JOIN LATERAL (
                    SELECT d.endpoint_id, d.event_seq
                    FROM orderly_webhook_deliveries d
                    WHERE d.endpoint_id = ep.id AND d.state = 'pending'
                      AND d.next_attempt_at <= now()
                      AND (d.leased_until IS NULL OR d.leased_until < now())
                    ORDER BY d.event_xid, d.event_seq LIMIT greatest(ep.room, 0)) c
            ), locked AS (
                SELECT d.endpoint_id, d.event_seq FROM orderly_webhook_deliveries d
                WHERE (d.endpoint_id, d.event_seq) IN (SELECT endpoint_id, event_seq FROM candidates)
                  AND d.state = 'pending' AND (d.leased_until IS NULL OR d.leased_until < now())
                FOR UPDATE SKIP LOCKED
            ), probing AS (
                UPDATE orderly_webhook_endpoints w
                SET retry_at = now() + $1 * interval '1 millisecond'
                FROM ep WHERE w.id = ep.id AND ep.failures > 0
                          AND w.id IN (SELECT endpoint_id FROM locked)
            ), claimed AS (
                UPDATE orderly_webhook_deliveries d
                SET leased_until = now() + $1 * interval '1 millisecond',
                    attempts = d.attempts + 1, last_attempt_at = now()
                FROM locked
                WHERE d.endpoint_id = locked.endpoint_id AND d.event_seq = locked.event_seq
                RETURNING d.endpoint_id, d.event_seq, d.attempts, d.created_at
            )
            SELECT c.endpoint_id, ep.url, ep.secret, ep.failures, c.attempts, c.created_at, ",
            event_columns!("e"),
            " FROM claimed c JOIN ep ON ep.id = c.endpoint_id
                 JOIN orderly_events e ON e.seq = c.event_seq
             ORDER BY e.xid, e.seq"
        );
        let rows = self
            .writes()
            .query(sql, &[&millis(lease), &in_flight])
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Claimed {
                    endpoint_id: row.get(0),
                    url: row.get(1),
                    secret: WebhookSecret::stored(row.get(2)),
                    endpoint_failures: row.get(3),
                    attempts: row.get(4),
                    queued_at: row.get(5),
                    event: event_from_row(row, 6)?,
                })
            })
            .collect()
    }

    async fn record(&self, claimed: &Claimed, attempt: &Attempt) -> StoreResult<()> {
        let sql = "WITH d AS (
                UPDATE orderly_webhook_deliveries
                SET state = $3, leased_until = NULL,
                    next_attempt_at = now() + $4 * interval '1 millisecond',
                    last_status = $5, last_error = $6,
                    finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
                WHERE endpoint_id = $1 AND event_seq = $2 AND attempts = $7
                RETURNING endpoint_id
            )
            UPDATE orderly_webhook_endpoints SET
                failures = CASE $8 WHEN 'healthy' THEN 0
                                   WHEN 'failing' THEN failures + 1 ELSE failures END,
                retry_at = CASE $8 WHEN 'failing' THEN now() + $9 * interval '1 millisecond'
                                   WHEN 'healthy' THEN LEAST(retry_at, now()) ELSE retry_at END,
                enabled = enabled AND $8 <> 'disabled',
                disabled_reason = CASE $8 WHEN 'disabled' THEN $10 ELSE disabled_reason END
            WHERE id = (SELECT endpoint_id FROM d)";
        let (effect, endpoint_wait, reason) = match &attempt.endpoint {
            EndpointAfter::Healthy => ("healthy", Duration::ZERO, None),
            EndpointAfter::Failing { retry_in } => ("failing", *retry_in, None),
            EndpointAfter::Disabled { reason } => {
                ("disabled", Duration::ZERO, Some(reason.as_str()))
            }
        };
        self.writes()
            .query(
                sql,
                &[
                    &claimed.endpoint_id,
                    &claimed.event.position.seq,
                    &attempt.state.as_str(),
                    &millis(attempt.retry_in),
                    &attempt.status,
                    &attempt.error.as_deref(),
                    &claimed.attempts,
                    &effect,
                    &millis(endpoint_wait),
                    &reason,
                ],
            )
            .await?;
        Ok(())
    }

    async fn give_up_after(&self, period: Duration) -> StoreResult<u64> {
        let sql = "WITH g AS (
                UPDATE orderly_webhook_deliveries
                SET state = 'failed', finished_at = now(),
                    last_error = COALESCE(last_error || '; ', '') || 'gave up: not delivered within the retry period'
                WHERE state = 'pending' AND created_at < now() - $1 * interval '1 millisecond'
                  AND (leased_until IS NULL OR leased_until < now())
                RETURNING 1
            )
            SELECT count(*) FROM g";
        let row = self.writes().query_one(sql, &[&millis(period)]).await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn oldest_pending_age(&self) -> StoreResult<Option<Duration>> {
        let sql = "SELECT (extract(epoch FROM now() - min(created_at)) * 1000)::bigint
                   FROM orderly_webhook_deliveries WHERE state = 'pending'";
        let row = self.reads(ReadFrom::Primary).query_one(sql, &[]).await?;
        Ok(row
            .get::<_, Option<i64>>(0)
            .map(|ms| Duration::from_millis(ms.max(0) as u64)))
    }
}
