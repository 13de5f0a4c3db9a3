//! API keys on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{from_micros, micros, SqliteStore};
use crate::domain::{ApiKey, KeyDigest, KeyName, Role};
use crate::storage::api_keys::{active_keys_from, role_from_column, ActiveKeys, ACTIVE_KEYS};
use crate::storage::{ApiKeyStore, StoreResult};

fn from_row(row: &Row) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: row.get(0)?,
        name: row.get(1)?,
        role: role_from_column(row.get_ref(2)?.as_str()?),
        created_at: from_micros(row.get(3)?),
        last_used_at: row.get::<_, Option<i64>>(4)?.map(from_micros),
        revoked_at: row.get::<_, Option<i64>>(5)?.map(from_micros),
    })
}

fn list_keys(conn: &Connection) -> StoreResult<Vec<ApiKey>> {
    let mut select = conn.prepare_cached(
        "SELECT id, name, role, created_at, last_used_at, revoked_at
         FROM orderly_api_keys ORDER BY id",
    )?;
    let keys = select.query_map([], from_row)?;
    Ok(keys.collect::<rusqlite::Result<_>>()?)
}

fn active_keys(conn: &Connection) -> StoreResult<ActiveKeys> {
    let mut select = conn.prepare_cached(ACTIVE_KEYS)?;
    let mut rows = select.query([])?;
    let mut columns: Vec<(i64, String, Vec<u8>, bool)> = Vec::new();
    while let Some(row) = rows.next()? {
        columns.push((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?));
    }
    Ok(active_keys_from(columns.iter().map(
        |(id, role, digest, active)| (*id, role.as_str(), digest.as_slice(), *active),
    )))
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn insert_key(
        &self,
        name: &KeyName,
        role: Role,
        digest: &KeyDigest,
    ) -> StoreResult<ApiKey> {
        let (name, digest) = (name.clone(), *digest);
        self.writer
            .write(move |conn| {
                let mut insert = conn.prepare_cached(
                    "INSERT INTO orderly_api_keys (name, role, digest, created_at)
                     VALUES (?, ?, ?, ?)
                     RETURNING id, name, role, created_at, last_used_at, revoked_at",
                )?;
                let params = params![
                    name.as_str(),
                    role.as_str(),
                    digest.0.as_slice(),
                    micros(Utc::now())
                ];
                Ok(insert.query_row(params, from_row)?)
            })
            .await
    }

    async fn list_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.readers.read(list_keys)
    }

    async fn revoke_key(&self, id: i64) -> StoreResult<Option<ApiKey>> {
        self.writer
            .write(move |conn| {
                let mut revoke = conn.prepare_cached(
                    "UPDATE orderly_api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?
                     RETURNING id, name, role, created_at, last_used_at, revoked_at",
                )?;
                let revoked = revoke.query_row(params![micros(Utc::now()), id], from_row);
                Ok(revoked.optional()?)
            })
            .await
    }

    async fn active_keys(&self) -> StoreResult<ActiveKeys> {
        self.readers.read(active_keys)
    }

    async fn forget_revoked_keys(&self) -> StoreResult<u64> {
        self.writer
            .write(|conn| {
                let forgotten = conn
                    .prepare_cached("DELETE FROM orderly_api_keys WHERE revoked_at IS NOT NULL")?
                    .execute([])?;
                Ok(forgotten as u64)
            })
            .await
    }

    async fn record_key_use(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE orderly_api_keys SET last_used_at = ?1
                     WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)",
                )?
                .execute(params![micros(at), id])?;
                Ok(())
            })
            .await
    }
}
