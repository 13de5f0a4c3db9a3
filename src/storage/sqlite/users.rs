//! Users on SQLite.

use chrono::Utc;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::{db_error, from_micros, keys, micros, SqliteStore};
use crate::domain::{NewUser, PageRequest, User, UserPatch};
use crate::storage::{
    stale_or_missing, Created, Idempotent, Precondition, StoreError, StoreResult,
};

fn from_row(row: &SqliteRow) -> User {
    User {
        id: row.get(0),
        email: row.get(1),
        name: row.get(2),
        created_at: from_micros(row.get(3)),
        updated_at: from_micros(row.get(4)),
    }
}

async fn insert(conn: &mut SqliteConnection, new: &NewUser) -> StoreResult<User> {
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

pub async fn create(
    store: &SqliteStore,
    new: &NewUser,
    idempotent: Option<Idempotent<'_, User>>,
) -> StoreResult<Created<User>> {
    let Some(idem) = idempotent else {
        let mut conn = store.writer.acquire().await.map_err(db_error)?;
        return insert(&mut conn, new).await.map(Created::New);
    };
    let mut tx = store.begin_write().await?;
    if let Some(response) = keys::claim(&mut tx, idem.key).await? {
        return Ok(Created::Replayed(response));
    }
    let user = insert(&mut tx, new).await?;
    keys::record(&mut tx, idem.key, &(idem.render)(&user)).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(Created::New(user))
}

pub async fn get(store: &SqliteStore, id: i64) -> StoreResult<User> {
    sqlx::query("SELECT id, email, name, created_at, updated_at FROM users WHERE id = ?")
        .bind(id)
        .fetch_optional(&store.reader)
        .await
        .map_err(db_error)?
        .map(|row| from_row(&row))
        .ok_or(StoreError::NotFound)
}

pub async fn exists(store: &SqliteStore, id: i64) -> StoreResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)")
        .bind(id)
        .fetch_one(&store.reader)
        .await
        .map_err(db_error)
}

pub async fn update(
    store: &SqliteStore,
    id: i64,
    patch: &UserPatch,
    precondition: &Precondition,
) -> StoreResult<User> {
    // One statement, as on PostgreSQL: the versions travel as a JSON array.
    let versions = match precondition {
        Precondition::None => None,
        Precondition::AnyOf(vs) => {
            Some(serde_json::Value::from(vs.iter().map(|v| v.0).collect::<Vec<_>>()).to_string())
        }
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
    .fetch_optional(&store.writer)
    .await
    .map_err(db_error)?;
    match row {
        Some(row) => Ok(from_row(&row)),
        None => Err(stale_or_missing(get(store, id).await)),
    }
}

pub async fn delete(store: &SqliteStore, id: i64) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM users WHERE id = ?")
        .bind(id)
        .execute(&store.writer)
        .await
        .map_err(db_error)?;
    match done.rows_affected() {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

pub async fn list(
    store: &SqliteStore,
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
    .fetch_all(&store.reader)
    .await
    .map_err(db_error)?;
    Ok(rows.iter().map(from_row).collect())
}
