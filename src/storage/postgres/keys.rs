//! Idempotency keys on PostgreSQL. A running request holds a
//! transaction-scoped advisory lock on its key, so a repeat meanwhile is
//! told 409 at once, and a crash releases the lock with the transaction.

use chrono::Utc;
use deadpool_postgres::Transaction;

use super::{db_error, PgStore};
use crate::domain::{IdempotencyKey, StoredResponse};
use crate::storage::idempotency::{decide, decode_headers, encode_headers, Decision, StoredKey};
use crate::storage::{StoreError, StoreResult, IDEMPOTENCY_TTL};

/// Claims `key` inside `tx`: `Some(response)` to replay, `None` to execute.
pub async fn claim(
    tx: &Transaction<'_>,
    key: &IdempotencyKey,
) -> StoreResult<Option<StoredResponse>> {
    let lock_name = format!("{}\n{}", key.scope, key.key);
    let lock = tx
        .prepare_cached("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))")
        .await
        .map_err(db_error)?;
    let locked: bool = tx
        .query_one(&lock, &[&lock_name])
        .await
        .map_err(db_error)?
        .get(0);
    if !locked {
        return Err(StoreError::KeyInFlight);
    }
    let select = tx
        .prepare_cached(
            "SELECT fingerprint, response_status, response_headers, response_body, created_at > $3
             FROM idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .await
        .map_err(db_error)?;
    let cutoff = Utc::now() - IDEMPOTENCY_TTL;
    let row = tx
        .query_opt(&select, &[&key.scope, &key.key, &cutoff])
        .await
        .map_err(db_error)?;
    let stored = row.map(|r| StoredKey {
        fingerprint: r.get(0),
        response: StoredResponse {
            status: r.get::<_, i16>(1) as u16,
            headers: decode_headers(r.get(2)),
            body: r.get(3),
        },
        live: r.get(4),
    });
    match decide(key, stored)? {
        Decision::Replay(response) => Ok(Some(response)),
        Decision::Execute { expired } => {
            if expired {
                tx.execute(
                    "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2",
                    &[&key.scope, &key.key],
                )
                .await
                .map_err(db_error)?;
            }
            Ok(None)
        }
    }
}

/// Stores the response of the request that `claim` let execute.
pub async fn record(
    tx: &Transaction<'_>,
    key: &IdempotencyKey,
    response: &StoredResponse,
) -> StoreResult<()> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO idempotency_keys
                 (scope, key, fingerprint, response_status, response_headers, response_body)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await
        .map_err(db_error)?;
    let status = response.status as i16;
    let headers = encode_headers(&response.headers);
    tx.execute(
        &insert,
        &[
            &key.scope,
            &key.key,
            &key.fingerprint,
            &status,
            &headers,
            &response.body,
        ],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

pub async fn purge_expired(store: &PgStore) -> StoreResult<u64> {
    const BATCH: i64 = 1000;
    let conn = store.conn().await?;
    let delete = conn
        .prepare_cached(
            "DELETE FROM idempotency_keys WHERE ctid IN (
                 SELECT ctid FROM idempotency_keys WHERE created_at <= $1 LIMIT $2)",
        )
        .await
        .map_err(db_error)?;
    let cutoff = Utc::now() - IDEMPOTENCY_TTL;
    let mut purged = 0;
    loop {
        let n = conn
            .execute(&delete, &[&cutoff, &BATCH])
            .await
            .map_err(db_error)?;
        purged += n;
        if n < BATCH as u64 {
            return Ok(purged);
        }
    }
}
