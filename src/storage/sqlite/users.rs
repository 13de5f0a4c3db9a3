//! Users on SQLite.

use async_trait::async_trait;
use chrono::Utc;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::errors::{db_error, is_foreign_key_failure};
use super::{from_micros, micros, SqliteStore};
use crate::domain::{NewUser, PageRequest, Precondition, User, UserPatch};
use crate::storage::{Constraint, ReadFrom, StoreError, StoreResult, UserStore, Written};

fn from_row(row: &SqliteRow) -> User {
    User {
        id: row.get(0),
        email: row.get(1),
        name: row.get(2),
        created_at: from_micros(row.get(3)),
        updated_at: from_micros(row.get(4)),
    }
}

/// Inserts a user, on the writer connection or inside a transaction.
pub(super) async fn insert(conn: &mut SqliteConnection, new: &NewUser) -> StoreResult<User> {
    let now = micros(Utc::now());
    let row = sqlx::query(
        "INSERT INTO users (email, name, created_at, updated_at) VALUES (?, ?, ?, ?)
         RETURNING id, email, name, created_at, updated_at",
    )
    .bind(new.email.as_str())
    .bind(new.name.as_str())
    .bind(now)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(from_row(&row))
}

/// Whether user `id` exists, on the reader pool or inside a transaction.
pub(super) async fn user_exists<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    id: i64,
) -> StoreResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)")
        .bind(id)
        .fetch_one(executor)
        .await
        .map_err(db_error)
}

/// Whether any order refers to user `id`, read inside the caller's
/// transaction.
async fn has_orders(conn: &mut SqliteConnection, id: i64) -> StoreResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM orders WHERE user_id = ?)")
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)
}

#[async_trait]
/// SQLite has one database: every read is current, wherever it may go, and
/// no write has a position anyone needs.
impl UserStore for SqliteStore {
    async fn create(&self, new: &NewUser) -> StoreResult<Written<User>> {
        let user = insert(&mut *self.writer.acquire().await?, new).await?;
        Ok(Written::unplaced(user))
    }

    async fn get(&self, _: ReadFrom, id: i64) -> StoreResult<Option<User>> {
        let row =
            sqlx::query("SELECT id, email, name, created_at, updated_at FROM users WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *self.reader.acquire().await?)
                .await
                .map_err(db_error)?;
        Ok(row.as_ref().map(from_row))
    }

    async fn exists(&self, _: ReadFrom, id: i64) -> StoreResult<bool> {
        user_exists(&mut *self.reader.acquire().await?, id).await
    }

    async fn update(
        &self,
        id: i64,
        patch: &UserPatch,
        precondition: &Precondition,
    ) -> StoreResult<Written<Option<User>>> {
        // One statement, as on PostgreSQL: the versions travel as a JSON array.
        let versions = match precondition {
            Precondition::None => None,
            Precondition::AnyOf(vs) => Some(
                serde_json::Value::from(vs.iter().map(|v| v.0).collect::<Vec<_>>()).to_string(),
            ),
        };
        let row = sqlx::query(
            "UPDATE users SET email = COALESCE(?2, email), name = COALESCE(?3, name),
                 updated_at = max(?4, updated_at + 1)
             WHERE id = ?1 AND (?5 IS NULL OR updated_at IN (SELECT value FROM json_each(?5)))
             RETURNING id, email, name, created_at, updated_at",
        )
        .bind(id)
        .bind(patch.email.as_ref().map(|e| e.as_str()))
        .bind(patch.name.as_ref().map(|n| n.as_str()))
        .bind(micros(Utc::now()))
        .bind(versions)
        .fetch_optional(&mut *self.writer.acquire().await?)
        .await
        .map_err(db_error)?;
        Ok(Written::unplaced(row.as_ref().map(from_row)))
    }

    async fn delete(&self, id: i64) -> StoreResult<Written<bool>> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id)
            .execute(&mut *tx.0)
            .await;
        let deleted = match deleted {
            Ok(done) => done.rows_affected() > 0,
            // SQLite does not say which foreign key failed: the user's
            // orders, still there in this transaction, say it was ours.
            Err(e) if is_foreign_key_failure(&e) => {
                return Err(match has_orders(&mut tx.0, id).await? {
                    true => StoreError::Violates(Constraint::OrderUser),
                    false => db_error(e),
                });
            }
            Err(e) => return Err(db_error(e)),
        };
        tx.commit_here().await?;
        Ok(Written::unplaced(deleted))
    }

    async fn list(
        &self,
        _: ReadFrom,
        page: &PageRequest,
        email: Option<&str>,
    ) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, email, name, created_at, updated_at FROM users
             WHERE id > ?1 AND (?3 IS NULL OR lower(email) = lower(?3))
             ORDER BY id LIMIT ?2",
        )
        .bind(page.after_id())
        .bind(page.fetch_len())
        .bind(email)
        .fetch_all(&mut *self.reader.acquire().await?)
        .await
        .map_err(db_error)?;
        Ok(rows.iter().map(from_row).collect())
    }
}
