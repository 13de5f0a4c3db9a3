//! SQLite's migrations, and its side of the runner
//! (`storage::migrations`): one `BEGIN IMMEDIATE` transaction, so two
//! processes starting at once apply them one after the other.
//!
//! Foreign keys are off while they run, as SQLite's procedure for changing
//! a table's definition (create the new table, copy, drop, rename) needs,
//! and every foreign key is checked before the commit instead.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use rusqlite::Connection;

use super::connection;
use crate::config::SqliteSynchronous;
use crate::storage::migrations::{apply_pending, embedded, Migration, MigrationTx};

pub const MIGRATIONS: &[Migration] = embedded!("migrations");

/// Applies pending `migrations` to the database file at `path` (created
/// if missing), on a connection of its own.
pub async fn migrate_file(path: &Path, migrations: &[Migration]) -> anyhow::Result<()> {
    let mut conn = connection::writer(path, SqliteSynchronous::Full)?;
    migrate(&mut conn, migrations).await
}

/// Applies pending `migrations` in one transaction on `conn`, which is
/// left with foreign keys on.
pub(super) async fn migrate(conn: &mut Connection, migrations: &[Migration]) -> anyhow::Result<()> {
    // The pragma is a no-op inside a transaction: set it before BEGIN.
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let applied = apply(conn, migrations).await;
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .context("could not switch foreign keys back on")?;
    applied
}

async fn apply(conn: &mut Connection, migrations: &[Migration]) -> anyhow::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = apply_in_transaction(conn, migrations).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end)
        .context("could not end the migration transaction")?;
    result
}

async fn apply_in_transaction(
    conn: &mut Connection,
    migrations: &[Migration],
) -> anyhow::Result<()> {
    move_history_of_old_releases(conn)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS orderly_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)))",
    )?;
    if apply_pending(&mut Migrating(conn), migrations).await? == 0 {
        return Ok(());
    }
    // A full scan: only when a migration ran with the keys off.
    let broken = conn
        .prepare("PRAGMA foreign_key_check")?
        .query_map([], |_| Ok(()))?
        .count();
    anyhow::ensure!(
        broken == 0,
        "the migrations leave {broken} row(s) breaking a foreign key"
    );
    Ok(())
}

/// Releases before 0.5 kept their history in `schema_migrations`; an
/// embedded SQLite file is only ever orderly's, so that table is ours.
fn move_history_of_old_releases(conn: &Connection) -> anyhow::Result<()> {
    let tables = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name IN ('schema_migrations', 'orderly_migrations')",
        )?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if tables == ["schema_migrations"] {
        conn.execute_batch("ALTER TABLE schema_migrations RENAME TO orderly_migrations")?;
    }
    Ok(())
}

struct Migrating<'a>(&'a mut Connection);

impl MigrationTx for Migrating<'_> {
    async fn applied(&mut self) -> anyhow::Result<BTreeSet<i64>> {
        let versions = self
            .0
            .prepare("SELECT version FROM orderly_migrations")?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(versions)
    }

    async fn apply(&mut self, m: &Migration) -> anyhow::Result<()> {
        self.0.execute_batch(m.sql)?;
        self.0.execute(
            "INSERT INTO orderly_migrations (version, name) VALUES (?, ?)",
            rusqlite::params![m.version, m.name],
        )?;
        Ok(())
    }
}
