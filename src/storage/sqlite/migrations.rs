//! SQLite's migrations, and its side of the runner
//! (`storage::migrations`): one `BEGIN IMMEDIATE` transaction, so two
//! processes starting at once apply them one after the other.
//!
//! Foreign keys are off while they run, as SQLite's procedure for changing
//! a table's definition (create the new table, copy, drop, rename) needs,
//! and every foreign key is checked before the commit instead.

use std::collections::BTreeSet;

use anyhow::Context;
use sqlx::{SqliteConnection, SqlitePool};

use crate::storage::migrations::{apply_pending, embedded, Migration, MigrationTx};

pub const MIGRATIONS: &[Migration] = embedded!("migrations");

/// Applies pending `migrations` in one transaction.
pub async fn migrate(pool: &SqlitePool, migrations: &[Migration]) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await.context("could not reach SQLite")?;
    // The pragma is a no-op inside a transaction: set it before BEGIN.
    sqlx::raw_sql("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await?;
    let applied = apply(&mut conn, migrations).await;
    let restored = sqlx::raw_sql("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await;
    if restored.is_err() {
        // Never hand a connection without foreign keys back to the pool.
        conn.detach();
    }
    applied?;
    restored.context("could not switch foreign keys back on")?;
    Ok(())
}

async fn apply(conn: &mut SqliteConnection, migrations: &[Migration]) -> anyhow::Result<()> {
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let result = apply_in_transaction(conn, migrations).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    sqlx::raw_sql(end)
        .execute(&mut *conn)
        .await
        .context("could not end the migration transaction")?;
    result
}

async fn apply_in_transaction(
    conn: &mut SqliteConnection,
    migrations: &[Migration],
) -> anyhow::Result<()> {
    move_history_of_old_releases(conn).await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS orderly_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)))",
    )
    .execute(&mut *conn)
    .await?;
    if apply_pending(&mut Migrating(conn), migrations).await? == 0 {
        return Ok(());
    }
    // A full scan: only when a migration ran with the keys off.
    let broken = sqlx::raw_sql("PRAGMA foreign_key_check")
        .fetch_all(&mut *conn)
        .await?;
    anyhow::ensure!(
        broken.is_empty(),
        "the migrations leave {} row(s) breaking a foreign key",
        broken.len()
    );
    Ok(())
}

/// Releases before 0.5 kept their history in `schema_migrations`; an
/// embedded SQLite file is only ever orderly's, so that table is ours.
async fn move_history_of_old_releases(conn: &mut SqliteConnection) -> anyhow::Result<()> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name IN ('schema_migrations', 'orderly_migrations')",
    )
    .fetch_all(&mut *conn)
    .await?;
    if tables == ["schema_migrations"] {
        sqlx::raw_sql("ALTER TABLE schema_migrations RENAME TO orderly_migrations")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

struct Migrating<'a>(&'a mut SqliteConnection);

impl MigrationTx for Migrating<'_> {
    async fn applied(&mut self) -> anyhow::Result<BTreeSet<i64>> {
        let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM orderly_migrations")
            .fetch_all(&mut *self.0)
            .await?;
        Ok(versions.into_iter().collect())
    }

    async fn apply(&mut self, m: &Migration) -> anyhow::Result<()> {
        sqlx::raw_sql(m.sql).execute(&mut *self.0).await?;
        sqlx::query("INSERT INTO orderly_migrations (version, name) VALUES (?, ?)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }
}
