//! Idempotency keys on SQLite. A claim is a session on the single writer,
//! so no other write (in this process or another) runs until it ends: a
//! key is never held elsewhere, only waited for.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::transaction::SqliteTx;
use super::{from_micros, micros, SqliteStore};
use crate::domain::{IdempotencyKey, SavedResponse};
use crate::storage::idempotency_keys::encode_headers;
use crate::storage::{Claim, IdempotencyStore, StoreResult, StoredKey, Tx};

/// Deletes the row stored under `key`, inside a session.
pub(super) fn delete(conn: &Connection, key: &IdempotencyKey) -> StoreResult<()> {
    conn.prepare_cached(
        "DELETE FROM orderly_idempotency_keys WHERE api_key_id = ? AND scope = ? AND key = ?",
    )?
    .execute(params![key.owner, key.scope.as_str(), &key.key])?;
    Ok(())
}

/// Stores `response` under `key`, inside a session.
pub(super) fn insert(
    conn: &Connection,
    key: &IdempotencyKey,
    response: &SavedResponse,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO orderly_idempotency_keys
             (api_key_id, scope, key, fingerprint, response_status, response_headers,
              response_body, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        key.owner,
        key.scope.as_str(),
        &key.key,
        &key.fingerprint,
        i64::from(response.status),
        encode_headers(&response.headers),
        &response.body,
        micros(Utc::now()),
    ])?;
    Ok(())
}

/// The row stored under `key`, if any.
fn stored(conn: &Connection, key: &IdempotencyKey) -> StoreResult<Option<StoredKey>> {
    let mut select = conn.prepare_cached(
        "SELECT fingerprint, response_status, response_headers, response_body, created_at
         FROM orderly_idempotency_keys WHERE api_key_id = ? AND scope = ? AND key = ?",
    )?;
    let columns = select
        .query_row(params![key.owner, key.scope.as_str(), &key.key], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<_, String>(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        })
        .optional()?;
    columns
        .map(|(fingerprint, status, headers, body, created_at)| {
            StoredKey::from_columns(fingerprint, status, &headers, body, from_micros(created_at))
        })
        .transpose()
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim(&self, key: &IdempotencyKey) -> StoreResult<Claim> {
        let mut session = self.writer.session()?;
        let owned = key.clone();
        let stored = session.run(move |conn| stored(conn, &owned)).await?;
        Ok(Claim::Held {
            tx: Tx::new(SqliteTx(session)),
            stored,
        })
    }

    async fn delete_stored_before(&self, cutoff: DateTime<Utc>, batch: u32) -> StoreResult<u64> {
        self.writer
            .write(move |conn| {
                let deleted = conn
                    .prepare_cached(
                        "DELETE FROM orderly_idempotency_keys WHERE rowid IN (
                             SELECT rowid FROM orderly_idempotency_keys WHERE created_at < ? LIMIT ?)",
                    )?
                    .execute(params![micros(cutoff), i64::from(batch)])?;
                Ok(deleted as u64)
            })
            .await
    }
}
