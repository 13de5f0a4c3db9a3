//! PostgreSQL's migrations, and its side of the runner
//! (`storage::migrations`): one transaction under an advisory lock named
//! after the schema the migrations go into, so that instances starting at
//! once apply them one after the other while deployments in other schemas
//! of the same database do not wait for each other.

use std::collections::BTreeSet;

use anyhow::Context;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};

use crate::storage::migrations::{apply_pending, embedded, Migration, MigrationTx};

pub const MIGRATIONS: &[Migration] = embedded!("migrations");

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
        "SELECT pg_advisory_xact_lock(hashtextextended('orderly migrations ' || current_schema(), 0))",
        &[],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    bigint PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let mut tx = Migrating(tx);
    apply_pending(&mut tx, migrations).await?;
    tx.0.commit()
        .await
        .context("could not commit the migrations")
}

struct Migrating<'a>(Transaction<'a>);

impl MigrationTx for Migrating<'_> {
    async fn applied(&mut self) -> anyhow::Result<BTreeSet<i64>> {
        let rows = self
            .0
            .query_typed("SELECT version FROM schema_migrations", &[])
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn apply(&mut self, m: &Migration) -> anyhow::Result<()> {
        self.0.batch_execute(m.sql).await?;
        self.0
            .query_typed(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[(&m.version, Type::INT8), (&m.name, Type::TEXT)],
            )
            .await?;
        Ok(())
    }
}
