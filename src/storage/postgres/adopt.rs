//! `orderly migrate --adopt`: takes over the tables of a service that
//! already implements this API on PostgreSQL (a FastAPI + asyncpg one, say)
//! without moving its data. It compares the schema with what orderly
//! needs, checks the rows against orderly's rules, prints the plan, and
//! (unless it is a dry run) adds only what is missing, each step safe on a
//! live database, then records the baseline so that later migrations run
//! as usual. The old service's tables and rows are never dropped or
//! rewritten; everything orderly adds can be dropped again.

mod apply;
mod catalog;
mod data;
mod ident;
mod needs;
mod plan;

use std::io::Write;

use anyhow::Context;
use tokio_postgres::IsolationLevel;

use super::connect::Target;
use super::connection::PgConn;
use super::migrations::tables_of_another_service;
use crate::config::PostgresSettings;
use catalog::Catalog;
use plan::Plan;

/// Adopts the current schema of the database at `url`, or with `dry_run`
/// only plans it; the plan and progress go to `out`. Fails, having
/// changed nothing, when the schema or its rows stop the adoption.
pub async fn adopt(
    url: &str,
    postgres: &PostgresSettings,
    dry_run: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let target = Target::parse(url, "DATABASE_URL", postgres)?;
    let mut conn = PgConn::open(&target)
        .await
        .map_err(|e| anyhow::anyhow!("could not connect to PostgreSQL: {e}"))?;
    let client = conn.client_mut();
    // An index build or a validation may take minutes on a large table.
    client
        .batch_execute("SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0")
        .await?;
    // One adoption of a schema at a time. A lock of its own, not the
    // migrations': an orderly starting meanwhile refuses at once instead of
    // waiting in a transaction that a concurrent index build would wait for.
    let sole =
        "SELECT pg_try_advisory_lock(hashtextextended('orderly adoption ' || current_schema(), 0))";
    anyhow::ensure!(
        client.query_typed(sole, &[]).await?[0].get::<_, bool>(0),
        "another `orderly migrate --adopt` is adopting this schema now"
    );
    if tables_of_another_service(&*client).await?.is_empty() {
        return nothing_to_adopt(client, out).await;
    }
    // The catalog and the rows as of one moment; reading takes no lock
    // that stops the old service.
    let checking = std::time::Instant::now();
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let catalog = Catalog::read(&tx)
        .await
        .context("could not read the catalog")?;
    let plan = Plan::of(&catalog);
    // Rows are checked only against a schema that has what the checks read.
    let problems = match plan.adoptable() {
        true => data::problems(&tx, &catalog)
            .await
            .context("could not check the rows")?,
        false => Vec::new(),
    };
    tx.commit().await?;
    let checked = checking.elapsed();

    writeln!(
        out,
        "Adopting schema {} for orderly.\n",
        current_schema(client).await?
    )?;
    write!(out, "{plan}")?;
    if plan.adoptable() {
        writeln!(out, "Rows that break orderly's rules:")?;
        if problems.is_empty() {
            writeln!(out, "  (none)")?;
        }
        for p in &problems {
            writeln!(out, "  - {p}")?;
        }
        writeln!(
            out,
            "(catalog and rows read in {:.1} ms, in one read-only snapshot)\n",
            checked.as_secs_f64() * 1000.0
        )?;
    }
    if !plan.adoptable() || !problems.is_empty() {
        anyhow::bail!(
            "cannot adopt: {} schema problem(s) and {} kind(s) of rows that break orderly's rules, \
             listed above; nothing was changed. Fix them (rows through the old service), then run \
             `orderly migrate --adopt --dry-run` again",
            plan.blockers().count(),
            problems.len()
        );
    }
    if dry_run {
        writeln!(
            out,
            "Dry run: nothing was changed. `orderly migrate --adopt` carries out the plan."
        )?;
        return Ok(());
    }
    writeln!(out, "Carrying out the plan:")?;
    apply::run_all(client, &plan.steps, out).await
}

async fn current_schema(client: &tokio_postgres::Client) -> anyhow::Result<String> {
    Ok(client
        .query_typed("SELECT current_schema()::text", &[])
        .await?[0]
        .get(0))
}

/// A schema without another service's tables: orderly's already (done:
/// adopting twice is harmless), or empty (an error: most likely the wrong
/// database).
async fn nothing_to_adopt(
    client: &tokio_postgres::Client,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let sql = "SELECT to_regclass(format('%I.orderly_migrations', current_schema())) IS NOT NULL";
    let orderlys: bool = client.query_typed(sql, &[]).await?[0].get(0);
    anyhow::ensure!(
        orderlys,
        "nothing to adopt: this schema holds none of users, orders, order_items (is DATABASE_URL \
         the old service's database?); `orderly migrate` creates them"
    );
    writeln!(
        out,
        "Nothing to adopt: this schema is orderly's already (orderly_migrations records its \
         migrations); `orderly migrate` applies any that are pending."
    )?;
    Ok(())
}
