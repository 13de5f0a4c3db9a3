//! Users on PostgreSQL: one statement each, on the shared connections
//! (`routing`) or inside a unit of work.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::connection::Statements;
use super::events::{new_event_id, user_data};
use super::ids;
use super::PgStore;
use crate::domain::{NewUser, PageRequest, Precondition, User, UserPatch};
use crate::storage::{ReadFrom, StoreResult, UserStore, Written};

fn from_row(row: &Row) -> User {
    User {
        id: ids::id(row, 0),
        email: row.get(1),
        name: row.get(2),
        created_at: row.get(3),
        updated_at: row.get(4),
    }
}

/// Inserts a user and its `user.created` event, on the shared connections
/// or inside a transaction.
pub(super) async fn insert(on: &impl Statements, new: &NewUser) -> StoreResult<User> {
    let sql = concat!(
        "WITH u AS (INSERT INTO users (email, name) VALUES ($1, $2)
                    RETURNING id, email, name, created_at, updated_at),
              e AS (INSERT INTO orderly_events (id, type, data) SELECT $3::uuid, 'user.created', ",
        user_data!(),
        " FROM u)
         SELECT id, email, name, created_at, updated_at FROM u"
    );
    let row = on
        .query_one(
            sql,
            &[&new.email.as_str(), &new.name.as_str(), &new_event_id()],
        )
        .await?;
    Ok(from_row(&row))
}

#[async_trait]
impl UserStore for PgStore {
    async fn create(&self, new: &NewUser) -> StoreResult<Written<User>> {
        let writes = self.writes();
        let user = insert(&writes, new).await?;
        Ok(writes.written(user))
    }

    async fn get(&self, from: ReadFrom, id: i64) -> StoreResult<Option<User>> {
        let sql = "SELECT id, email, name, created_at, updated_at FROM users WHERE id = $1";
        let row = self.reads(from).query_opt(sql, &[&id]).await?;
        Ok(row.as_ref().map(from_row))
    }

    async fn exists(&self, from: ReadFrom, id: i64) -> StoreResult<bool> {
        let sql = "SELECT 1 FROM users WHERE id = $1";
        Ok(self.reads(from).query_opt(sql, &[&id]).await?.is_some())
    }

    async fn update(
        &self,
        id: i64,
        patch: &UserPatch,
        precondition: &Precondition,
    ) -> StoreResult<Written<Option<User>>> {
        // One statement: the version check and the write cannot be separated
        // by another writer. `updated_at` moves forward even within one
        // microsecond, so every state has its own ETag.
        let sql = concat!(
            "WITH u AS (UPDATE users SET email = COALESCE($2, email), name = COALESCE($3, name),
                            updated_at = GREATEST(now(), updated_at + interval '1 microsecond')
                        WHERE id = $1 AND ($4::timestamptz[] IS NULL OR updated_at = ANY($4))
                        RETURNING id, email, name, created_at, updated_at),
                  e AS (INSERT INTO orderly_events (id, type, data) SELECT $5::uuid, 'user.updated', ",
            user_data!(),
            " FROM u)
             SELECT id, email, name, created_at, updated_at FROM u"
        );
        let versions = match precondition {
            Precondition::None => None,
            Precondition::AnyOf(vs) => Some(vs.iter().map(|v| v.timestamp()).collect::<Vec<_>>()),
        };
        let email = patch.email.as_ref().map(|e| e.as_str());
        let name = patch.name.as_ref().map(|n| n.as_str());
        let writes = self.writes();
        let row = writes
            .query_opt(sql, &[&id, &email, &name, &versions, &new_event_id()])
            .await?;
        Ok(writes.written(row.as_ref().map(from_row)))
    }

    async fn delete(&self, id: i64) -> StoreResult<Written<bool>> {
        let sql = concat!(
            "WITH u AS (DELETE FROM users WHERE id = $1
                        RETURNING id, email, name, created_at, updated_at),
                  e AS (INSERT INTO orderly_events (id, type, data) SELECT $2::uuid, 'user.deleted', ",
            user_data!(),
            " FROM u)
             SELECT id FROM u"
        );
        let writes = self.writes();
        let deleted = writes
            .query_opt(sql, &[&id, &new_event_id()])
            .await?
            .is_some();
        Ok(writes.written(deleted))
    }

    async fn list(
        &self,
        from: ReadFrom,
        page: &PageRequest,
        email: Option<&str>,
    ) -> StoreResult<Vec<User>> {
        // Two statements rather than one with `$3 IS NULL OR ...`, so each
        // keeps a plan that uses its index.
        let (after, fetch) = (page.after_id(), page.fetch_len());
        let reads = self.reads(from);
        let rows = match email {
            None => {
                let sql = "SELECT id, email, name, created_at, updated_at FROM users
                           WHERE id > $1 ORDER BY id LIMIT $2";
                reads.query(sql, &[&after, &fetch]).await?
            }
            Some(email) => {
                let sql = "SELECT id, email, name, created_at, updated_at FROM users
                           WHERE lower(email) = lower($3) AND id > $1 ORDER BY id LIMIT $2";
                reads.query(sql, &[&after, &fetch, &email]).await?
            }
        };
        Ok(rows.iter().map(from_row).collect())
    }
}
