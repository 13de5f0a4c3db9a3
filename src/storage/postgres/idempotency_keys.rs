//! Idempotency keys on PostgreSQL. A claim holds a transaction-scoped
//! advisory lock on its key, so a repeat in another instance meanwhile is
//! told at once, and a crash releases the lock with the transaction.

use super::param::Param;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::connection::Statements;
use super::transaction::PgTx;
use super::{pool, PgStore};
use crate::domain::{IdempotencyKey, SavedResponse};
use crate::storage::idempotency_keys::encode_headers;
use crate::storage::{Claim, IdempotencyStore, StoreResult, StoredKey, Tx};

/// The lock is named after the schema, the API key, the route and the key:
/// deployments in other schemas of one database, and clients using the same
/// key, never wait for each other.
const TRY_LOCK: &str = "SELECT pg_try_advisory_xact_lock(hashtextextended(
    current_schema() || E'\\n' || $1::bigint || E'\\n' || $2::text || E'\\n' || $3::text, 0))";

const SELECT: &str =
    "SELECT fingerprint, response_status, response_headers, response_body, created_at
       FROM orderly_idempotency_keys WHERE api_key_id = $1 AND scope = $2 AND key = $3";

/// Deletes the row stored under `key`, inside a transaction.
pub(super) async fn delete(on: &impl Statements, key: &IdempotencyKey) -> StoreResult<()> {
    let sql =
        "DELETE FROM orderly_idempotency_keys WHERE api_key_id = $1 AND scope = $2 AND key = $3";
    on.query(sql, &[&key.owner, &key.scope.as_str(), &key.key])
        .await?;
    Ok(())
}

/// Writes the row stored under `key` again, unchanged, inside a
/// transaction: its commit then writes to the log, and PostgreSQL
/// acknowledges it only once the synchronous standby has it, and with it
/// everything before, the stored response's own commit included. (A
/// commit that wrote nothing, a transaction id alone included, does not
/// wait.) A write to orderly's own table needs no privilege beyond those
/// orderly has.
pub(super) async fn rewrite(on: &impl Statements, key: &IdempotencyKey) -> StoreResult<()> {
    let sql = "UPDATE orderly_idempotency_keys SET key = key
               WHERE api_key_id = $1 AND scope = $2 AND key = $3";
    on.query(sql, &[&key.owner, &key.scope.as_str(), &key.key])
        .await?;
    Ok(())
}

/// Stores `response` under `key`, inside a transaction.
pub(super) async fn insert(
    on: &impl Statements,
    key: &IdempotencyKey,
    response: &SavedResponse,
) -> StoreResult<()> {
    let sql = "INSERT INTO orderly_idempotency_keys
            (api_key_id, scope, key, fingerprint, response_status, response_headers, response_body)
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let status = response.status as i16;
    let headers = encode_headers(&response.headers);
    let scope = key.scope.as_str();
    let params: [&dyn Param; 7] = [
        &key.owner,
        &scope,
        &key.key,
        &key.fingerprint,
        &status,
        &headers,
        &response.body,
    ];
    on.query(sql, &params).await?;
    Ok(())
}

#[async_trait]
impl IdempotencyStore for PgStore {
    /// Not tried again here: a claim is the start of a unit of work, which
    /// the application layer makes again as a whole (`storage::retry`).
    async fn claim(&self, key: &IdempotencyKey) -> StoreResult<Claim> {
        let conn = pool::get(&self.pool).await?;
        let tx = PgTx::begin(conn, self.limits.statement, self.notes_positions()).await?;
        let scope = key.scope.as_str();
        let scope_and_key: [&dyn Param; 3] = [&key.owner, &scope, &key.key];
        let locked: bool = tx.query_one(TRY_LOCK, &scope_and_key).await?.get(0);
        if !locked {
            tx.rollback().await?;
            return Ok(Claim::HeldElsewhere);
        }
        let stored = tx
            .query_opt(SELECT, &scope_and_key)
            .await?
            .map(|r| {
                let status = r.get::<_, i16>(1).into();
                StoredKey::from_columns(r.get(0), status, r.get(2), r.get(3), r.get(4))
            })
            .transpose()?;
        Ok(Claim::Held {
            tx: Tx::new(tx),
            stored,
        })
    }

    async fn delete_stored_before(&self, cutoff: DateTime<Utc>, batch: u32) -> StoreResult<u64> {
        // On a pooled connection of its own, not a shared one: a batch that
        // waits on a row lock must not hold up the requests queued behind it.
        let conn = pool::get(&self.pool).await?;
        let sql = "WITH deleted AS (
                       DELETE FROM orderly_idempotency_keys WHERE ctid IN (
                           SELECT ctid FROM orderly_idempotency_keys WHERE created_at < $1 LIMIT $2)
                       RETURNING 1)
                   SELECT count(*) FROM deleted";
        let deleted = conn
            .query(self.limits.statement, sql, &[&cutoff, &i64::from(batch)])
            .await?;
        Ok(deleted.first().map_or(0, |row| row.get::<_, i64>(0)) as u64)
    }
}
