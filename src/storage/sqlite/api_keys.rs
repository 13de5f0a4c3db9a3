//! API keys on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::errors::db_error;
use super::{from_micros, micros, SqliteStore};
use crate::domain::{ApiKey, KeyDigest, KeyName, Role};
use crate::storage::api_keys::{active_keys_from, role_from_column, ActiveKeys, ACTIVE_KEYS};
use crate::storage::{ApiKeyStore, StoreResult};

fn from_row(row: &SqliteRow) -> ApiKey {
    ApiKey {
        id: row.get(0),
        name: row.get(1),
        role: role_from_column(row.get(2)),
        created_at: from_micros(row.get(3)),
        last_used_at: row.get::<Option<i64>, _>(4).map(from_micros),
        revoked_at: row.get::<Option<i64>, _>(5).map(from_micros),
    }
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn insert_key(
        &self,
        name: &KeyName,
        role: Role,
        digest: &KeyDigest,
    ) -> StoreResult<ApiKey> {
        let row = sqlx::query(
            "INSERT INTO orderly_api_keys (name, role, digest, created_at) VALUES (?, ?, ?, ?)
             RETURNING id, name, role, created_at, last_used_at, revoked_at",
        )
        .bind(name.as_str())
        .bind(role.as_str())
        .bind(digest.0.as_slice())
        .bind(micros(Utc::now()))
        .fetch_one(&mut *self.writer.acquire().await?)
        .await
        .map_err(db_error)?;
        Ok(from_row(&row))
    }

    async fn list_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, name, role, created_at, last_used_at, revoked_at
             FROM orderly_api_keys ORDER BY id",
        )
        .fetch_all(&mut *self.reader.acquire().await?)
        .await
        .map_err(db_error)?;
        Ok(rows.iter().map(from_row).collect())
    }

    async fn revoke_key(&self, id: i64) -> StoreResult<Option<ApiKey>> {
        let row = sqlx::query(
            "UPDATE orderly_api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?
             RETURNING id, name, role, created_at, last_used_at, revoked_at",
        )
        .bind(micros(Utc::now()))
        .bind(id)
        .fetch_optional(&mut *self.writer.acquire().await?)
        .await
        .map_err(db_error)?;
        Ok(row.as_ref().map(from_row))
    }

    async fn active_keys(&self) -> StoreResult<ActiveKeys> {
        let rows = sqlx::query(ACTIVE_KEYS)
            .fetch_all(&mut *self.reader.acquire().await?)
            .await
            .map_err(db_error)?;
        Ok(active_keys_from(rows.iter().map(|row| {
            (row.get(0), row.get(1), row.get(2), row.get(3))
        })))
    }

    async fn forget_revoked_keys(&self) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM orderly_api_keys WHERE revoked_at IS NOT NULL")
            .execute(&mut *self.writer.acquire().await?)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn record_key_use(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE orderly_api_keys SET last_used_at = ?
             WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
        )
        .bind(micros(at))
        .bind(id)
        .bind(micros(at))
        .execute(&mut *self.writer.acquire().await?)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
