//! Users on PostgreSQL: one statement each, on the shared pipelined
//! connections, or on a transaction's own connection when the caller holds one.

use async_trait::async_trait;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{only_row, pg_tx, PgStore};
use crate::domain::{NewUser, PageRequest, Precondition, User, UserPatch};
use crate::storage::{StoreResult, Tx, UserStore};

const INSERT: &str = "INSERT INTO users (email, name) VALUES ($1, $2)
                      RETURNING id, email, name, created_at, updated_at";

fn from_row(row: &Row) -> User {
    User {
        id: row.get(0),
        email: row.get(1),
        name: row.get(2),
        created_at: row.get(3),
        updated_at: row.get(4),
    }
}

#[async_trait]
impl UserStore for PgStore {
    async fn create(&self, tx: Option<&mut Tx>, new: &NewUser) -> StoreResult<User> {
        let params: [&(dyn ToSql + Sync); 2] = [&new.email.as_str(), &new.name.as_str()];
        let row = match tx {
            None => only_row(self.write(INSERT, &params).await?)?,
            Some(tx) => pg_tx(tx).query_one(INSERT, &params).await?,
        };
        Ok(from_row(&row))
    }

    async fn get(&self, id: i64) -> StoreResult<Option<User>> {
        let sql = "SELECT id, email, name, created_at, updated_at FROM users WHERE id = $1";
        let row = self.read_opt(sql, &[&id]).await?;
        Ok(row.as_ref().map(from_row))
    }

    async fn exists(&self, id: i64) -> StoreResult<bool> {
        let sql = "SELECT 1 FROM users WHERE id = $1";
        Ok(self.read_opt(sql, &[&id]).await?.is_some())
    }

    async fn update(
        &self,
        id: i64,
        patch: &UserPatch,
        precondition: &Precondition,
    ) -> StoreResult<Option<User>> {
        // One statement: the version check and the write cannot be separated
        // by another writer. `updated_at` moves forward even within one
        // microsecond, so every state has its own ETag.
        let sql = "UPDATE users SET email = COALESCE($2, email), name = COALESCE($3, name),
                       updated_at = GREATEST(now(), updated_at + interval '1 microsecond')
                   WHERE id = $1 AND ($4::timestamptz[] IS NULL OR updated_at = ANY($4))
                   RETURNING id, email, name, created_at, updated_at";
        let versions = match precondition {
            Precondition::None => None,
            Precondition::AnyOf(vs) => Some(vs.iter().map(|v| v.timestamp()).collect::<Vec<_>>()),
        };
        let email = patch.email.as_ref().map(|e| e.as_str());
        let name = patch.name.as_ref().map(|n| n.as_str());
        let rows = self.write(sql, &[&id, &email, &name, &versions]).await?;
        Ok(rows.first().map(from_row))
    }

    async fn delete(&self, id: i64) -> StoreResult<bool> {
        let sql = "DELETE FROM users WHERE id = $1 RETURNING id";
        Ok(!self.write(sql, &[&id]).await?.is_empty())
    }

    async fn list(&self, page: &PageRequest, email: Option<&str>) -> StoreResult<Vec<User>> {
        // Two statements rather than one with `$3 IS NULL OR ...`, so each
        // keeps a plan that uses its index.
        let (after, fetch) = (page.after_id(), page.fetch_len());
        let rows = match email {
            None => {
                let sql = "SELECT id, email, name, created_at, updated_at FROM users
                           WHERE id > $1 ORDER BY id LIMIT $2";
                self.read(sql, &[&after, &fetch]).await?
            }
            Some(email) => {
                let sql = "SELECT id, email, name, created_at, updated_at FROM users
                           WHERE lower(email) = lower($3) AND id > $1 ORDER BY id LIMIT $2";
                self.read(sql, &[&after, &fetch, &email]).await?
            }
        };
        Ok(rows.iter().map(from_row).collect())
    }
}
