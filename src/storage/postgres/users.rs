//! Users on PostgreSQL: one statement each on a shared connection, except
//! an idempotent create, which needs a transaction.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{db_error, keys, PgStore};
use crate::domain::{NewUser, PageRequest, User, UserPatch};
use crate::storage::{
    stale_or_missing, Created, Idempotent, Precondition, StoreError, StoreResult,
};

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

pub async fn create(
    store: &PgStore,
    new: &NewUser,
    idempotent: Option<Idempotent<'_, User>>,
) -> StoreResult<Created<User>> {
    let params: [&(dyn ToSql + Sync); 2] = [&new.email.as_str(), &new.name.as_str()];
    let Some(idem) = idempotent else {
        let row = store.writers.query_opt(INSERT, &params).await?;
        let row =
            row.ok_or_else(|| StoreError::Other(anyhow::anyhow!("INSERT returned no row")))?;
        return Ok(Created::New(from_row(&row)));
    };
    let mut conn = store.conn().await?;
    let tx = conn.transaction().await.map_err(db_error)?;
    if let Some(response) = keys::claim(&tx, idem.key).await? {
        return Ok(Created::Replayed(response));
    }
    let insert = tx.prepare_cached(INSERT).await.map_err(db_error)?;
    let user = from_row(&tx.query_one(&insert, &params).await.map_err(db_error)?);
    keys::record(&tx, idem.key, &(idem.render)(&user)).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(Created::New(user))
}

pub async fn get(store: &PgStore, id: i64) -> StoreResult<User> {
    let sql = "SELECT id, email, name, created_at, updated_at FROM users WHERE id = $1";
    let row = store.readers.query_opt(sql, &[&id]).await?;
    row.as_ref().map(from_row).ok_or(StoreError::NotFound)
}

pub async fn exists(store: &PgStore, id: i64) -> StoreResult<bool> {
    let sql = "SELECT 1 FROM users WHERE id = $1";
    Ok(store.readers.query_opt(sql, &[&id]).await?.is_some())
}

pub async fn update(
    store: &PgStore,
    id: i64,
    patch: &UserPatch,
    precondition: &Precondition,
) -> StoreResult<User> {
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
    match store
        .writers
        .query_opt(sql, &[&id, &email, &name, &versions])
        .await?
    {
        Some(row) => Ok(from_row(&row)),
        None => Err(stale_or_missing(get(store, id).await)),
    }
}

pub async fn delete(store: &PgStore, id: i64) -> StoreResult<()> {
    match store
        .writers
        .execute("DELETE FROM users WHERE id = $1", &[&id])
        .await?
    {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

pub async fn list(
    store: &PgStore,
    page: &PageRequest,
    email: Option<&str>,
) -> StoreResult<Vec<User>> {
    // Two statements rather than one with `$3 IS NULL OR ...`, so each keeps
    // a plan that uses its index.
    let (after, fetch) = (page.after_id(), page.fetch_len());
    let rows = match email {
        None => {
            let sql = "SELECT id, email, name, created_at, updated_at FROM users
                       WHERE id > $1 ORDER BY id LIMIT $2";
            store.readers.query(sql, &[&after, &fetch]).await?
        }
        Some(email) => {
            let sql = "SELECT id, email, name, created_at, updated_at FROM users
                       WHERE lower(email) = lower($3) AND id > $1 ORDER BY id LIMIT $2";
            store.readers.query(sql, &[&after, &fetch, &email]).await?
        }
    };
    Ok(rows.iter().map(from_row).collect())
}
