//! Users on SQLite.

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::errors::is_foreign_key_failure;
use super::{events, from_micros, micros, SqliteStore};
use crate::domain::{EventType, NewUser, PageRequest, Precondition, User, UserPatch};
use crate::storage::{Constraint, ReadFrom, StoreError, StoreResult, UserStore, Written};

fn from_row(row: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        name: row.get(2)?,
        created_at: from_micros(row.get(3)?),
        updated_at: from_micros(row.get(4)?),
    })
}

/// Inserts a user and its `user.created` event, on the writer.
pub(super) fn insert(conn: &Connection, new: &NewUser) -> StoreResult<User> {
    let now = micros(Utc::now());
    let mut insert = conn.prepare_cached(
        "INSERT INTO users (email, name, created_at, updated_at) VALUES (?, ?, ?, ?)
         RETURNING id, email, name, created_at, updated_at",
    )?;
    let user = insert.query_row(
        params![new.email.as_str(), new.name.as_str(), now, now],
        from_row,
    )?;
    events::record_user(conn, EventType::UserCreated, &user)?;
    Ok(user)
}

/// Whether user `id` exists, on a reader or the writer.
pub(super) fn user_exists(conn: &Connection, id: i64) -> StoreResult<bool> {
    let mut exists = conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)")?;
    Ok(exists.query_row([id], |row| row.get(0))?)
}

/// Whether any order refers to user `id`, on the writer.
fn has_orders(conn: &Connection, id: i64) -> StoreResult<bool> {
    let mut exists =
        conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM orders WHERE user_id = ?)")?;
    Ok(exists.query_row([id], |row| row.get(0))?)
}

fn get(conn: &Connection, id: i64) -> StoreResult<Option<User>> {
    let mut select = conn
        .prepare_cached("SELECT id, email, name, created_at, updated_at FROM users WHERE id = ?")?;
    Ok(select.query_row([id], from_row).optional()?)
}

fn update(
    conn: &Connection,
    id: i64,
    patch: &UserPatch,
    versions: Option<&str>,
) -> StoreResult<Option<User>> {
    // One statement, as on PostgreSQL: the versions travel as a JSON array.
    let mut update = conn.prepare_cached(
        "UPDATE users SET email = COALESCE(?2, email), name = COALESCE(?3, name),
             updated_at = max(?4, updated_at + 1)
         WHERE id = ?1 AND (?5 IS NULL OR updated_at IN (SELECT value FROM json_each(?5)))
         RETURNING id, email, name, created_at, updated_at",
    )?;
    let updated = update.query_row(
        params![
            id,
            patch.email.as_ref().map(|e| e.as_str()),
            patch.name.as_ref().map(|n| n.as_str()),
            micros(Utc::now()),
            versions,
        ],
        from_row,
    );
    let updated = updated.optional()?;
    if let Some(user) = &updated {
        events::record_user(conn, EventType::UserUpdated, user)?;
    }
    Ok(updated)
}

fn delete(conn: &Connection, id: i64) -> StoreResult<bool> {
    let deleted = conn
        .prepare_cached(
            "DELETE FROM users WHERE id = ? RETURNING id, email, name, created_at, updated_at",
        )?
        .query_row([id], from_row)
        .optional();
    match deleted {
        Ok(None) => Ok(false),
        Ok(Some(user)) => {
            events::record_user(conn, EventType::UserDeleted, &user)?;
            Ok(true)
        }
        // SQLite does not say which foreign key failed: the user's orders,
        // still there, say it was ours.
        Err(e) if is_foreign_key_failure(&e) => Err(match has_orders(conn, id)? {
            true => StoreError::Violates(Constraint::OrderUser),
            false => e.into(),
        }),
        Err(e) => Err(e.into()),
    }
}

fn list(conn: &Connection, page: &PageRequest, email: Option<&str>) -> StoreResult<Vec<User>> {
    let mut select = conn.prepare_cached(
        "SELECT id, email, name, created_at, updated_at FROM users
         WHERE id > ?1 AND (?3 IS NULL OR lower(email) = lower(?3))
         ORDER BY id LIMIT ?2",
    )?;
    let rows = select.query_map(params![page.after_id(), page.fetch_len(), email], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[async_trait]
/// SQLite has one database: every read is current, wherever it may go, and
/// no write has a position anyone needs.
impl UserStore for SqliteStore {
    async fn create(&self, new: &NewUser) -> StoreResult<Written<User>> {
        let new = new.clone();
        let user = self.writer.write(move |conn| insert(conn, &new)).await?;
        Ok(Written::unplaced(user))
    }

    async fn get(&self, _: ReadFrom, id: i64) -> StoreResult<Option<User>> {
        self.readers.read(|conn| get(conn, id))
    }

    async fn exists(&self, _: ReadFrom, id: i64) -> StoreResult<bool> {
        self.readers.read(|conn| user_exists(conn, id))
    }

    async fn update(
        &self,
        id: i64,
        patch: &UserPatch,
        precondition: &Precondition,
    ) -> StoreResult<Written<Option<User>>> {
        let versions = match precondition {
            Precondition::None => None,
            Precondition::AnyOf(vs) => Some(
                serde_json::Value::from(vs.iter().map(|v| v.0).collect::<Vec<_>>()).to_string(),
            ),
        };
        let patch = patch.clone();
        let updated = self
            .writer
            .write(move |conn| update(conn, id, &patch, versions.as_deref()))
            .await?;
        Ok(Written::unplaced(updated))
    }

    async fn delete(&self, id: i64) -> StoreResult<Written<bool>> {
        let deleted = self.writer.write(move |conn| delete(conn, id)).await?;
        Ok(Written::unplaced(deleted))
    }

    async fn list(
        &self,
        _: ReadFrom,
        page: &PageRequest,
        email: Option<&str>,
    ) -> StoreResult<Vec<User>> {
        self.readers.read(|conn| list(conn, page, email))
    }
}
