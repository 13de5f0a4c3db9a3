//! PostgreSQL test schemas: one per test, in one shared database, reached
//! through `search_path`.
//!
//! Migrating a schema costs the server ~30 ms of DDL, most of a test's
//! set-up, so schemas are recycled: when a test ends, its schema is emptied
//! (every row deleted, every sequence restarted) and renamed to a spare, provided its
//! shape (tables, columns, constraints, indexes, triggers, functions) is
//! still exactly that of a freshly migrated schema; a test that altered it
//! gets it dropped instead. A new test claims a spare with one `ALTER SCHEMA
//! ... RENAME`, which only one claimant can win, or starts from an empty
//! schema that the app migrates. Spares are named after the migrations'
//! fingerprint, so a schema change never hands out an old shape. (Longer
//! than most: the claim, the recycling and the shape check are one story.)
//!
//! A test that another test's open transaction would disturb (the events
//! feed waits for every write transaction of its database) gets a whole
//! database of its own instead (`own_database`).

use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::OnceCell;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use orderly::storage::migrations::Migration;
use orderly::storage::postgres;

/// Where the PostgreSQL tests find a server that lets them create databases.
pub const PG_URL_VAR: &str = "ORDERLY_TEST_DATABASE_URL";
const PG_DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The database every PostgreSQL test makes its schema in.
const TEST_DATABASE: &str = "orderly_tests";
/// How the databases of tests' own begin (`own_database`).
const OWN_DATABASE_PREFIX: &str = "orderly_own";
/// Test schemas (and databases) this old belong to test processes that
/// were killed.
const STALE_SCHEMA_SECS: u64 = 3600;
/// Serialises the one-time set-up of the test database across processes.
const SETUP_LOCK: i64 = 0x6f72_6465_726c_7974;

/// Everything about the current schema a test could change, as one
/// comparable string: each relation and column (type, default, not null),
/// each constraint's and index's definition (less the schema's own name),
/// each trigger and whether it is enabled (foreign keys' internal ones by
/// table, their names differ), each function, and the migrations recorded
/// as applied.
const SHAPE: &str = "WITH ns AS (SELECT current_schema()::regnamespace AS oid),
    rel AS (SELECT c.oid, c.relname FROM pg_class c, ns WHERE c.relnamespace = ns.oid)
    SELECT coalesce(string_agg(object, ',' ORDER BY object), '') FROM (
        SELECT 'relation ' || relname AS object FROM rel
        UNION ALL SELECT format('column %s.%s %s %s %s', rel.relname, a.attname,
                                format_type(a.atttypid, a.atttypmod), a.attnotnull,
                                pg_get_expr(d.adbin, d.adrelid))
            FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attnum > 0 AND NOT a.attisdropped
        UNION ALL SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(c.oid)
            FROM pg_constraint c, ns WHERE c.connamespace = ns.oid
        UNION ALL SELECT 'index ' || replace(pg_get_indexdef(i.indexrelid),
                                             ' ON ' || quote_ident(current_schema()) || '.', ' ON ')
            FROM rel JOIN pg_index i ON i.indexrelid = rel.oid
        UNION ALL SELECT format('trigger %s %s %s', rel.relname,
                                CASE WHEN t.tgisinternal THEN 'internal' ELSE t.tgname END,
                                t.tgenabled)
            FROM rel JOIN pg_trigger t ON t.tgrelid = rel.oid
        UNION ALL SELECT 'function ' || proname FROM pg_proc p, ns WHERE p.pronamespace = ns.oid
        UNION ALL SELECT 'migration ' || version FROM orderly_migrations) objects";

/// Whether any catalog row describing the current schema (or any row of
/// `orderly_migrations`) was written after transaction `$1`: DDL writes new
/// catalog rows; deleting rows, restarting sequences, renaming the schema
/// and the database's own vacuuming do not.
const CHANGED_SINCE: &str = "WITH ns AS (SELECT current_schema()::regnamespace AS oid),
    rel AS (SELECT c.oid, c.xmin FROM pg_class c, ns WHERE c.relnamespace = ns.oid)
    SELECT EXISTS (SELECT 1 FROM (
        SELECT xmin FROM rel
        UNION ALL SELECT a.xmin FROM pg_attribute a JOIN rel ON a.attrelid = rel.oid
        UNION ALL SELECT d.xmin FROM pg_attrdef d JOIN rel ON d.adrelid = rel.oid
        UNION ALL SELECT c.xmin FROM pg_constraint c, ns WHERE c.connamespace = ns.oid
        UNION ALL SELECT i.xmin FROM pg_index i JOIN rel ON i.indexrelid = rel.oid
        UNION ALL SELECT t.xmin FROM pg_trigger t JOIN rel ON t.tgrelid = rel.oid
        UNION ALL SELECT p.xmin FROM pg_proc p, ns WHERE p.pronamespace = ns.oid
        UNION ALL SELECT xmin FROM orderly_migrations) written
      WHERE age(written.xmin) < age(($1 % 4294967296)::text::xid))";

/// One statement that deletes every row but the migrations' own: foreign
/// keys are checked at its end, when no row refers to another, whatever
/// the order of the tables. (DELETE, not TRUNCATE: truncating makes new
/// files for every table and index, ten times the cost here.)
const EMPTYING: &str =
    "SELECT 'WITH ' || string_agg(format('d%s AS (DELETE FROM %I)', oid, relname), ', ')
        || ' SELECT 1'
    FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'
        AND relname <> 'orderly_migrations'";

pub fn admin_url() -> String {
    std::env::var(PG_URL_VAR).unwrap_or_else(|_| PG_DEFAULT_URL.to_owned())
}

/// The shared test database, with `search_path` set to `schema` if given.
pub fn url(schema: Option<&str>) -> String {
    let mut url = url::Url::parse(&database_url(TEST_DATABASE)).expect("a URL");
    if let Some(schema) = schema {
        url.query_pairs_mut()
            .append_pair("options", &format!("-csearch_path={schema}"));
    }
    url.to_string()
}

/// Database `name` on the tests' server.
pub fn database_url(name: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).expect("ORDERLY_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A new, empty database of the test's own on the tests' server: its name.
/// (`CREATE DATABASE` costs the server some 100 ms more than a schema.)
pub async fn own_database() -> String {
    set_up_once().await;
    let name = unique_name(OWN_DATABASE_PREFIX);
    connect_or_explain(&admin_url())
        .await
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("CREATE DATABASE for the test");
    name
}

/// Drops a database `own_database` made, closing what still uses it.
pub async fn drop_own_database(name: &str) {
    let dropped = connect_or_explain(&admin_url())
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
    if let Err(e) = dropped {
        eprintln!("could not drop test database {name}: {e}");
    }
}

/// Spares and their recorded fresh shape are named after the migrations
/// and the shape query: a change to either never meets an old spare.
fn spare_prefix() -> String {
    format!("spare_{:016x}_", fingerprint(postgres::MIGRATIONS, SHAPE))
}

/// A stable fingerprint (FNV-1a) of the migrations' versions and SQL, and
/// of the query that describes a schema's shape.
fn fingerprint(migrations: &[Migration], shape_query: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let migration_bytes = migrations
        .iter()
        .flat_map(|m| m.version.to_le_bytes().into_iter().chain(m.sql.bytes()));
    for byte in migration_bytes.chain(shape_query.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A schema of the test's own: a migrated spare if one is free (with the
/// transaction that claimed it, to tell at the end whether the test changed
/// it), else an empty one.
pub async fn claim() -> (String, Option<i64>) {
    let name = unique_name("t");
    let client = connect(None).await;
    let spares = client
        .query(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)
             ORDER BY random() LIMIT 5",
            &[&spare_prefix()],
        )
        .await
        .expect("pg_namespace");
    for spare in spares {
        let spare: String = spare.get(0);
        let rename = format!("ALTER SCHEMA \"{spare}\" RENAME TO \"{name}\"");
        match client.batch_execute(&rename).await {
            Ok(()) => {
                let claimed: i64 = client
                    .query_one("SELECT txid_current()", &[])
                    .await
                    .expect("txid_current")
                    .get(0);
                return (name, Some(claimed));
            }
            // Another test claimed it first.
            Err(e) if e.code() == Some(&SqlState::INVALID_SCHEMA_NAME) => continue,
            Err(e) => panic!("could not claim a spare schema: {e}"),
        }
    }
    create(&client, &name).await;
    (name, None)
}

/// An empty schema of the test's own, not even migrated.
pub async fn claim_empty() -> String {
    let name = unique_name("t");
    create(&connect(None).await, &name).await;
    name
}

async fn create(client: &Client, name: &str) {
    client
        .batch_execute(&format!("CREATE SCHEMA \"{name}\""))
        .await
        .expect("CREATE SCHEMA for the test");
}

/// Empties `schema` into a spare if its shape is untouched, else drops it.
/// `claimed` is the transaction that claimed it from the spares, if it did.
pub async fn release(schema: &str, claimed: Option<i64>) {
    let client = connect(Some(schema)).await;
    if let Err(e) = recycle(&client, schema, claimed).await {
        eprintln!("could not recycle test schema {schema} ({e}); dropping it");
        if let Err(e) = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await
        {
            eprintln!("could not drop test schema {schema}: {e}");
        }
    }
}

async fn recycle(client: &Client, schema: &str, claimed: Option<i64>) -> Result<(), String> {
    // On its own, not inside the transaction below: it must still hold for
    // the `DROP SCHEMA` that follows if that transaction fails.
    client
        .batch_execute("SET lock_timeout = '5s'")
        .await
        .map_err(|e| e.to_string())?;
    if let Some(claimed) = claimed {
        let changed: bool = client
            .query_one(CHANGED_SINCE, &[&claimed])
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        if !changed {
            return empty_into_a_spare(client, schema).await;
        }
    }
    // Migrated by the app, or changed by the test: compare the whole shape.
    let shape: String = client
        .query_one(SHAPE, &[])
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    let fresh: Option<String> = client
        .query_opt(
            "SELECT shape FROM public.schema_shapes WHERE fingerprint = $1",
            &[&spare_prefix()],
        )
        .await
        .map_err(|e| e.to_string())?
        .map(|row| row.get(0));
    if fresh.as_deref() != Some(shape.as_str()) {
        return Err("the test changed its shape".into());
    }
    empty_into_a_spare(client, schema).await
}

async fn empty_into_a_spare(client: &Client, schema: &str) -> Result<(), String> {
    let empty_every_table: String = client
        .query_one(EMPTYING, &[])
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    let spare = unique_name(spare_prefix().trim_end_matches('_'));
    client
        .batch_execute(&format!(
            "BEGIN;
             {empty_every_table};
             SELECT setval(oid::regclass, 1, false) FROM pg_class
                 WHERE relnamespace = current_schema()::regnamespace AND relkind = 'S';
             ALTER SCHEMA \"{schema}\" RENAME TO \"{spare}\";
             COMMIT;"
        ))
        .await
        .map_err(|e| e.to_string())
}

/// `<prefix>_<unix seconds>_<pid>_<n>`: unique, and old ones can be told apart.
fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        unix_secs(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A connection to the test database, set up once per process (nextest
/// runs each test in its own).
async fn connect(schema: Option<&str>) -> Client {
    set_up_once().await;
    connect_or_explain(&url(schema)).await
}

async fn set_up_once() {
    static READY: OnceCell<()> = OnceCell::const_new();
    READY.get_or_init(set_up).await;
}

/// The test database exists, and so does the shape of a freshly migrated
/// schema; schemas of other migrations or of killed test processes are gone.
async fn set_up() {
    let admin = connect_or_explain(&admin_url()).await;
    match admin
        .batch_execute(&format!("CREATE DATABASE {TEST_DATABASE}"))
        .await
    {
        Ok(()) => {}
        // Another test process made it first.
        Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => {}
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {}
        Err(e) => panic!("could not create the test database: {e}"),
    }
    // Databases the earlier harness cloned tests from, never used again,
    // and databases of tests' own left by killed test processes.
    let templates = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'orderly\\_tmpl\\_%'
                OR (datname ~ '^orderly_own_[0-9]+_[0-9]+_[0-9]+$'
                    AND split_part(datname, '_', 3)::bigint < $1)",
            &[&((unix_secs() - STALE_SCHEMA_SECS) as i64)],
        )
        .await
        .expect("pg_database");
    for row in templates {
        let name: String = row.get(0);
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
    let mut client = connect_or_explain(&url(None)).await;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&SETUP_LOCK])
        .await
        .expect("the set-up lock");
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS public.schema_shapes (
                 fingerprint text PRIMARY KEY, shape text NOT NULL)",
        )
        .await
        .expect("schema_shapes");
    let known = client
        .query_opt(
            "SELECT 1 FROM public.schema_shapes WHERE fingerprint = $1",
            &[&spare_prefix()],
        )
        .await
        .expect("schema_shapes")
        .is_some();
    if !known {
        record_fresh_shape(&mut client).await;
    }
    sweep(&client).await;
    vacuum_if_needed(&client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&SETUP_LOCK])
        .await
        .expect("unlock");
}

/// Migrates a first spare and records its shape as the fresh one.
async fn record_fresh_shape(client: &mut Client) {
    let spare = unique_name(spare_prefix().trim_end_matches('_'));
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{spare}\"; SET search_path = \"{spare}\""
        ))
        .await
        .expect("a first spare schema");
    postgres::migrate(client, postgres::MIGRATIONS)
        .await
        .expect("migrating the first spare schema");
    let shape: String = client.query_one(SHAPE, &[]).await.expect("shape").get(0);
    client
        .execute(
            "INSERT INTO public.schema_shapes (fingerprint, shape) VALUES ($1, $2)",
            &[&spare_prefix(), &shape],
        )
        .await
        .expect("recording the shape");
    client
        .batch_execute("RESET search_path")
        .await
        .expect("RESET");
}

/// Drops spares of other migrations and test schemas of killed processes.
async fn sweep(client: &Client) {
    let stale = client
        .query(
            "SELECT nspname FROM pg_namespace
             WHERE (nspname ~ '^spare_[0-9a-f]{16}_' AND NOT starts_with(nspname, $1))
                OR (nspname ~ '^t_[0-9]+_[0-9]+_[0-9]+$'
                    AND split_part(nspname, '_', 2)::bigint < $2)",
            &[&spare_prefix(), &((unix_secs() - STALE_SCHEMA_SECS) as i64)],
        )
        .await
        .expect("pg_namespace");
    for row in stale {
        let schema: String = row.get(0);
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await;
    }
    let _ = client
        .execute(
            "DELETE FROM public.schema_shapes WHERE fingerprint <> $1",
            &[&spare_prefix()],
        )
        .await;
}

/// Every schema the tests drop (a test that altered its own, or a change
/// of migrations) leaves dead rows in the catalogs, which every catalog scan
/// then reads. A server may run without autovacuum (the CI machine's does),
/// so the tests vacuum their own database once such rows pile up.
async fn vacuum_if_needed(client: &Client) {
    const DEAD_CATALOG_ROWS: i64 = 20_000;
    let dead: i64 = client
        .query_one(
            "SELECT coalesce(sum(n_dead_tup), 0)::bigint FROM pg_stat_sys_tables
             WHERE schemaname = 'pg_catalog'",
            &[],
        )
        .await
        .expect("pg_stat_sys_tables")
        .get(0);
    if dead > DEAD_CATALOG_ROWS {
        client
            .batch_execute("VACUUM")
            .await
            .expect("VACUUM of the test database");
    }
}

async fn connect_or_explain(url: &str) -> Client {
    match tokio_postgres::connect(url, NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(async move {
                let _ = connection.await;
            });
            client
        }
        Err(e) => panic!(
            "the PostgreSQL tests need a server: could not connect to {url}: {e}.\n\
             Start the local cluster with `bash scripts/install/postgres.sh` \
             (`bash .ci/run` does this for you), or set {PG_URL_VAR} to a server where this \
             user may CREATE DATABASE."
        ),
    }
}
