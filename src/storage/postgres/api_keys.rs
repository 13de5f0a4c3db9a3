//! API keys on PostgreSQL: single statements on the primary's shared
//! connections (a key's revocation must be seen at once, so never a
//! replica's, and no caller reads them back through one).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::connection::Statements;
use super::PgStore;
use crate::domain::{ApiKey, KeyDigest, KeyName, Role};
use crate::storage::api_keys::{active_keys_from, role_from_column, ActiveKeys, ACTIVE_KEYS};
use crate::storage::{ApiKeyStore, StoreResult};

// The shared connections cache statements by their static text, so each
// statement is spelled out whole.
const INSERT: &str = "INSERT INTO orderly_api_keys (name, role, digest) VALUES ($1, $2, $3)
    RETURNING id, name, role, created_at, last_used_at, revoked_at";
const LIST: &str = "SELECT id, name, role, created_at, last_used_at, revoked_at
    FROM orderly_api_keys ORDER BY id";
const REVOKE: &str =
    "UPDATE orderly_api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1
    RETURNING id, name, role, created_at, last_used_at, revoked_at";

fn from_row(row: &Row) -> ApiKey {
    ApiKey {
        id: row.get(0),
        name: row.get(1),
        role: role_from_column(row.get(2)),
        created_at: row.get(3),
        last_used_at: row.get(4),
        revoked_at: row.get(5),
    }
}

#[async_trait]
impl ApiKeyStore for PgStore {
    async fn insert_key(
        &self,
        name: &KeyName,
        role: Role,
        digest: &KeyDigest,
    ) -> StoreResult<ApiKey> {
        let digest = digest.0.as_slice();
        let row = self
            .writers
            .query_one(INSERT, &[&name.as_str(), &role.as_str(), &digest])
            .await?;
        Ok(from_row(&row))
    }

    async fn list_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let rows = self.readers.query(LIST, &[]).await?;
        Ok(rows.iter().map(from_row).collect())
    }

    async fn revoke_key(&self, id: i64) -> StoreResult<Option<ApiKey>> {
        let row = self.writers.query_opt(REVOKE, &[&id]).await?;
        Ok(row.as_ref().map(from_row))
    }

    async fn active_keys(&self) -> StoreResult<ActiveKeys> {
        let rows = self.readers.query(ACTIVE_KEYS, &[]).await?;
        Ok(active_keys_from(rows.iter().map(|row| {
            (row.get(0), row.get(1), row.get(2), row.get(3))
        })))
    }

    async fn forget_revoked_keys(&self) -> StoreResult<u64> {
        let sql = "DELETE FROM orderly_api_keys WHERE revoked_at IS NOT NULL RETURNING id";
        Ok(self.writers.query(sql, &[]).await?.len() as u64)
    }

    async fn record_key_use(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        let sql = "UPDATE orderly_api_keys SET last_used_at = $2
                   WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";
        self.writers.query(sql, &[&id, &at]).await?;
        Ok(())
    }
}
