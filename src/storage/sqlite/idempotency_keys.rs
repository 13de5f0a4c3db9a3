//! Idempotency keys on SQLite. A claim is a `BEGIN IMMEDIATE` transaction on
//! the single writer, so no other writer (in this process or another) runs
//! until it ends: a key is never held elsewhere, only waited for.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

use super::errors::db_error;
use super::{from_micros, micros, SqliteStore};
use crate::domain::{IdempotencyKey, SavedResponse};
use crate::storage::idempotency_keys::encode_headers;
use crate::storage::{Claim, IdempotencyStore, StoreResult, StoredKey, Tx};

/// Deletes the row stored under `key`, inside a transaction.
pub(super) async fn delete(conn: &mut SqliteConnection, key: &IdempotencyKey) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM orderly_idempotency_keys WHERE api_key_id = ? AND scope = ? AND key = ?",
    )
    .bind(key.owner)
    .bind(key.scope.as_str())
    .bind(&key.key)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Stores `response` under `key`, inside a transaction.
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    key: &IdempotencyKey,
    response: &SavedResponse,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO orderly_idempotency_keys
             (api_key_id, scope, key, fingerprint, response_status, response_headers,
              response_body, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(key.owner)
    .bind(key.scope.as_str())
    .bind(&key.key)
    .bind(&key.fingerprint)
    .bind(i64::from(response.status))
    .bind(encode_headers(&response.headers))
    .bind(&response.body)
    .bind(micros(Utc::now()))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim(&self, key: &IdempotencyKey) -> StoreResult<Claim> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT fingerprint, response_status, response_headers, response_body, created_at
             FROM orderly_idempotency_keys WHERE api_key_id = ? AND scope = ? AND key = ?",
        )
        .bind(key.owner)
        .bind(key.scope.as_str())
        .bind(&key.key)
        .fetch_optional(&mut *tx.0)
        .await
        .map_err(db_error)?;
        let stored = row
            .map(|r| {
                let created_at = from_micros(r.get(4));
                StoredKey::from_columns(r.get(0), r.get(1), r.get(2), r.get(3), created_at)
            })
            .transpose()?;
        Ok(Claim::Held {
            tx: Tx::new(tx),
            stored,
        })
    }

    async fn delete_stored_before(&self, cutoff: DateTime<Utc>, batch: u32) -> StoreResult<u64> {
        let deleted = sqlx::query(
            "DELETE FROM orderly_idempotency_keys WHERE rowid IN (
                 SELECT rowid FROM orderly_idempotency_keys WHERE created_at < ? LIMIT ?)",
        )
        .bind(micros(cutoff))
        .bind(i64::from(batch))
        .execute(&mut *self.writer.acquire().await?)
        .await
        .map_err(db_error)?;
        Ok(deleted.rows_affected())
    }
}
