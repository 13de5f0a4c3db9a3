//! Idempotency keys on SQLite. The whole request runs in one `BEGIN
//! IMMEDIATE` transaction on the single writer, so a repeat of a key waits
//! for the first to finish and then replays it.

use chrono::Utc;
use sqlx::{Row, SqliteConnection};

use super::{db_error, micros, SqliteStore};
use crate::domain::{IdempotencyKey, StoredResponse};
use crate::storage::idempotency::{decide, decode_headers, encode_headers, Decision, StoredKey};
use crate::storage::{StoreResult, IDEMPOTENCY_TTL};

/// Claims `key` inside the open write transaction: `Some(response)` to
/// replay, `None` to execute.
pub async fn claim(
    conn: &mut SqliteConnection,
    key: &IdempotencyKey,
) -> StoreResult<Option<StoredResponse>> {
    let cutoff = micros(Utc::now() - IDEMPOTENCY_TTL);
    let row = sqlx::query(
        "SELECT fingerprint, response_status, response_headers, response_body, created_at > ?3
         FROM idempotency_keys WHERE scope = ?1 AND key = ?2",
    )
    .bind(key.scope)
    .bind(&key.key)
    .bind(cutoff)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let stored = row.map(|r| StoredKey {
        fingerprint: r.get(0),
        response: StoredResponse {
            status: r.get::<i64, _>(1) as u16,
            headers: decode_headers(r.get(2)),
            body: r.get(3),
        },
        live: r.get(4),
    });
    match decide(key, stored)? {
        Decision::Replay(response) => Ok(Some(response)),
        Decision::Execute { expired } => {
            if expired {
                sqlx::query("DELETE FROM idempotency_keys WHERE scope = ? AND key = ?")
                    .bind(key.scope)
                    .bind(&key.key)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
            }
            Ok(None)
        }
    }
}

pub async fn record(
    conn: &mut SqliteConnection,
    key: &IdempotencyKey,
    response: &StoredResponse,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO idempotency_keys
             (scope, key, fingerprint, response_status, response_headers, response_body, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(key.scope)
    .bind(&key.key)
    .bind(&key.fingerprint)
    .bind(i64::from(response.status))
    .bind(encode_headers(&response.headers))
    .bind(&response.body)
    .bind(micros(Utc::now()))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub async fn purge_expired(store: &SqliteStore) -> StoreResult<u64> {
    const BATCH: i64 = 1000;
    let cutoff = micros(Utc::now() - IDEMPOTENCY_TTL);
    let mut purged = 0;
    loop {
        // Small batches: each holds the single write lock only briefly.
        let n = sqlx::query(
            "DELETE FROM idempotency_keys WHERE rowid IN (
                 SELECT rowid FROM idempotency_keys WHERE created_at <= ? LIMIT ?)",
        )
        .bind(cutoff)
        .bind(BATCH)
        .execute(&store.writer)
        .await
        .map_err(db_error)?
        .rows_affected();
        purged += n;
        if n < BATCH as u64 {
            return Ok(purged);
        }
    }
}
