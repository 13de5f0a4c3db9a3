//! PostgreSQL's migrations, and its side of the runner
//! (`storage::migrations`): one transaction under an advisory lock named
//! after the schema the migrations go into, so that instances starting at
//! once apply them one after the other while deployments in other schemas
//! of the same database do not wait for each other.
//!
//! A schema that already holds `users`, `orders` or `order_items` with no
//! history of orderly's is another service's: plain migrations refuse it
//! and leave it as it is; `orderly migrate --adopt` (`adopt`) takes it over.

use std::collections::BTreeSet;

use anyhow::Context;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient, Transaction};

use crate::storage::migrations::{apply_pending, embedded, Migration, MigrationTx};

pub const MIGRATIONS: &[Migration] = embedded!("migrations");

/// orderly's migration history, in the schema it migrates.
pub(super) const HISTORY_TABLE: &str = "CREATE TABLE IF NOT EXISTS orderly_migrations (
     version    bigint PRIMARY KEY,
     name       text NOT NULL,
     applied_at timestamptz NOT NULL DEFAULT now())";

/// The lock every migration and adoption of the current schema holds.
pub(super) const MIGRATION_LOCK: &str =
    "hashtextextended('orderly migrations ' || current_schema(), 0)";

/// The tables of the API's data, which the contract names.
pub(super) const DATA_TABLES: [&str; 3] = ["users", "orders", "order_items"];

/// The event feed needs transaction ids and random UUIDs from the server
/// itself (`pg_current_xact_id`, `gen_random_uuid`): PostgreSQL 13 on.
async fn refuse_servers_before_13(tx: &Transaction<'_>) -> anyhow::Result<()> {
    let rows = tx.simple_query("SHOW server_version_num").await?;
    let version = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => {
            row.get(0).and_then(|v| v.parse::<u32>().ok())
        }
        _ => None,
    });
    match version {
        Some(v) if v < 130_000 => anyhow::bail!(
            "PostgreSQL {}.{} is too old: orderly needs PostgreSQL 13 or newer (its event feed \
             uses pg_current_xact_id and gen_random_uuid)",
            v / 10_000,
            v % 10_000 / 100
        ),
        _ => Ok(()),
    }
}

/// Applies pending `migrations` in one transaction.
pub async fn migrate(client: &mut Client, migrations: &[Migration]) -> anyhow::Result<()> {
    let tx = client
        .transaction()
        .await
        .context("could not start the migration")?;
    // No per-statement limit here: the lock waits for another instance's
    // migrations, and a migration may rewrite a large table.
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    // Unnamed statements throughout (`query_typed`, simple queries): behind
    // a transaction pooler, a named one could meet another process's name.
    tx.query_typed(
        &format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"),
        &[],
    )
    .await?;
    refuse_servers_before_13(&tx).await?;
    move_history_of_old_releases(&tx).await?;
    let others = tables_of_another_service(&tx).await?;
    if !others.is_empty() {
        anyhow::bail!(
            "this database already holds {} made by another service, with no migration history \
             of orderly's (orderly_migrations): orderly changed nothing. To take them over, see \
             the plan with `orderly migrate --adopt --dry-run`, then run `orderly migrate --adopt`",
            others.join(", ")
        );
    }
    tx.batch_execute(HISTORY_TABLE).await?;
    let mut tx = Migrating(tx);
    apply_pending(&mut tx, migrations).await?;
    tx.0.commit()
        .await
        .context("could not commit the migrations")
}

/// The data tables present in the current schema while orderly has no
/// history there: another service's, to be adopted, not migrated.
pub(super) async fn tables_of_another_service(
    db: &impl GenericClient,
) -> anyhow::Result<Vec<String>> {
    let sql = "SELECT c.relname::text FROM pg_class c
               WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
                 AND c.relname = ANY($1)
                 AND NOT EXISTS (SELECT 1 FROM pg_class h
                                 WHERE h.relnamespace = c.relnamespace AND h.relname = 'orderly_migrations')
               ORDER BY array_position($1, c.relname::text)";
    let rows = db
        .query_typed(sql, &[(&&DATA_TABLES[..], Type::TEXT_ARRAY)])
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Releases before 0.5 kept their history in `schema_migrations`: a name
/// another service may use for its own. orderly's own (a `name` column,
/// and migration 1 under orderly's name) moves to `orderly_migrations`;
/// anyone else's is left alone.
async fn move_history_of_old_releases(tx: &Transaction<'_>) -> anyhow::Result<()> {
    let ours = "SELECT count(*) = 2 FROM pg_attribute a
                WHERE a.attrelid = to_regclass(format('%I.schema_migrations', current_schema()))
                  AND a.attname IN ('version', 'name') AND NOT a.attisdropped
                  AND to_regclass(format('%I.orderly_migrations', current_schema())) IS NULL";
    let has_columns: bool = tx.query_typed(ours, &[]).await?[0].get(0);
    if !has_columns {
        return Ok(());
    }
    let first = "SELECT EXISTS (SELECT 1 FROM schema_migrations
                                WHERE version = 1 AND name = 'users_and_orders')";
    if tx.query_typed(first, &[]).await?[0].get(0) {
        tx.batch_execute(
            "ALTER TABLE schema_migrations RENAME TO orderly_migrations;
             ALTER TABLE orderly_migrations RENAME CONSTRAINT schema_migrations_pkey TO orderly_migrations_pkey",
        )
        .await?;
        tracing::info!(
            "moved orderly's migration history from schema_migrations to orderly_migrations"
        );
    }
    Ok(())
}

struct Migrating<'a>(Transaction<'a>);

impl MigrationTx for Migrating<'_> {
    async fn applied(&mut self) -> anyhow::Result<BTreeSet<i64>> {
        let rows = self
            .0
            .query_typed("SELECT version FROM orderly_migrations", &[])
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn apply(&mut self, m: &Migration) -> anyhow::Result<()> {
        self.0.batch_execute(m.sql).await?;
        self.0
            .query_typed(
                "INSERT INTO orderly_migrations (version, name) VALUES ($1, $2)",
                &[(&m.version, Type::INT8), (&m.name, Type::TEXT)],
            )
            .await?;
        Ok(())
    }
}
