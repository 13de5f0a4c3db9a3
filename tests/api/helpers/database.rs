//! Each test's own database, and the plain SQL tests run on it.
//!
//! PostgreSQL: a schema of its own in one shared database (`pg_schemas`),
//! or a whole database where another test's open transaction would
//! disturb it.
//! SQLite: a file in a temporary directory. Either is gone when the test
//! ends, panics included.
//!
//! The helpers below speak both dialects, so test bodies speak neither
//! (which makes this file long: each helper twice).

use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use orderly::storage::migrations::Migration;
use orderly::storage::{postgres, sqlite};

use super::pg_schemas;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub enum TestDatabase {
    /// `claimed`: the transaction that claimed a recycled schema, if so.
    Postgres {
        schema: String,
        claimed: Option<i64>,
    },
    Sqlite {
        dir: tempfile::TempDir,
    },
    /// A database of the test's own on the tests' server
    /// (`pg_schemas::own_database`), dropped at the end.
    OwnPostgres {
        name: String,
    },
    /// A PostgreSQL database the test made itself (a throwaway cluster's).
    Given {
        url: String,
    },
}

/// The test's own connection pool on the app's database, for plain SQL.
pub enum DbPool {
    Postgres(deadpool_postgres::Pool),
    Sqlite(sqlx::SqlitePool),
}

/// How a statement the test ran directly was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    UniqueViolation,
    ForeignKeyViolation,
    Other(String),
}

impl TestDatabase {
    /// A database for the app to migrate on start (on PostgreSQL often
    /// already migrated: a recycled schema).
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => {
                let (schema, claimed) = pg_schemas::claim().await;
                Self::Postgres { schema, claimed }
            }
            Backend::Sqlite => Self::empty_sqlite(),
        }
    }

    /// A database with nothing in it yet, not even migrations.
    pub async fn create_empty(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Self::Postgres {
                schema: pg_schemas::claim_empty().await,
                claimed: None,
            },
            Backend::Sqlite => Self::empty_sqlite(),
        }
    }

    /// A database no other test uses, not even through a schema of its
    /// own: on PostgreSQL, a whole database, which no other test's open
    /// transaction touches.
    pub async fn create_own(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Self::OwnPostgres {
                name: pg_schemas::own_database().await,
            },
            Backend::Sqlite => Self::empty_sqlite(),
        }
    }

    fn empty_sqlite() -> Self {
        Self::Sqlite {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    /// The `DATABASE_URL` of this database.
    pub fn url(&self) -> String {
        match self {
            Self::Postgres { schema, .. } => pg_schemas::url(Some(schema)),
            Self::OwnPostgres { name } => pg_schemas::database_url(name),
            Self::Sqlite { dir } => format!("sqlite://{}", dir.path().join("orderly.db").display()),
            Self::Given { url } => url.clone(),
        }
    }

    pub async fn pool(&self) -> DbPool {
        match self {
            Self::Postgres { .. } | Self::OwnPostgres { .. } | Self::Given { .. } => {
                let mut config = deadpool_postgres::Config::new();
                config.url = Some(without_tls_parameters(&self.url()));
                let pool = config
                    .create_pool(Some(deadpool_postgres::Runtime::Tokio1), NoTls)
                    .expect("a test pool");
                DbPool::Postgres(pool)
            }
            Self::Sqlite { dir } => {
                let options = sqlite_options(&dir.path().join("orderly.db"));
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await
                    .expect("a test pool on the SQLite file");
                DbPool::Sqlite(pool)
            }
        }
    }
}

/// The tests' own connections to the SQLite file: what orderly's are
/// (WAL, foreign keys on), waiting their turn behind orderly's writer.
fn sqlite_options(path: &std::path::Path) -> sqlx::sqlite::SqliteConnectOptions {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(std::time::Duration::from_secs(5))
        .foreign_keys(true)
}

/// `url` without its `ssl*` parameters, which the tests' own pool (clear
/// text, tokio-postgres' parser) cannot take: a test on a TLS-only server
/// reaches it another way (`Cluster::sql`).
fn without_tls_parameters(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> = query.split('&').filter(|p| !p.starts_with("ssl")).collect();
    format!("{base}?{}", kept.join("&"))
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match self {
            Self::Postgres { schema, claimed } => {
                let (schema, claimed) = (schema.clone(), *claimed);
                clean_up(async move || pg_schemas::release(&schema, claimed).await);
            }
            Self::OwnPostgres { name } => {
                let name = name.clone();
                clean_up(async move || pg_schemas::drop_own_database(&name).await);
            }
            Self::Sqlite { .. } | Self::Given { .. } => {}
        }
    }
}

/// Drop runs outside async code (and during panics), so a clean-up gets a
/// thread and a runtime of its own.
fn clean_up(work: impl AsyncFnOnce() + Send + 'static) {
    let cleanup = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(work());
    });
    let _ = cleanup.join();
}

impl DbPool {
    /// Runs statements that return nothing (SQL both dialects read alike).
    pub async fn execute(&self, sql: &str) {
        if let Err(refused) = self.try_execute(sql).await {
            panic!("{sql}: {refused:?}");
        }
    }

    pub async fn try_execute(&self, sql: &str) -> Result<(), Refused> {
        match self {
            Self::Postgres(pool) => pool
                .get()
                .await
                .expect("a connection")
                .batch_execute(sql)
                .await
                .map_err(refused_by_postgres),
            Self::Sqlite(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(pool)
                .await
                .map(drop)
                .map_err(refused_by_sqlite),
        }
    }

    /// The one integer `sql` returns.
    pub async fn scalar(&self, sql: &str) -> i64 {
        self.one(sql).await
    }

    /// The one text `sql` returns.
    pub async fn text(&self, sql: &str) -> String {
        self.one(sql).await
    }

    async fn one<T>(&self, sql: &str) -> T
    where
        T: for<'a> tokio_postgres::types::FromSql<'a>
            + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + Send
            + Unpin,
    {
        match self {
            Self::Postgres(pool) => pool
                .get()
                .await
                .expect("a connection")
                .query_one(sql, &[])
                .await
                .expect(sql)
                .get(0),
            Self::Sqlite(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_one(pool)
                .await
                .expect(sql),
        }
    }

    /// Asserts that every order is whole: it has its items, its total is
    /// their sum, and no item is left without its order.
    pub async fn assert_every_order_whole(&self) {
        for (what, sql) in [
            ("an order without its items", "SELECT COUNT(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)"),
            ("an order whose total is not the sum of its items", "SELECT COUNT(*) FROM orders o WHERE o.total <> (SELECT SUM(quantity * unit_price) FROM order_items i WHERE i.order_id = o.id)"),
            ("an orphaned item", "SELECT COUNT(*) FROM order_items i WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = i.order_id)"),
        ] {
            assert_eq!(self.scalar(sql).await, 0, "{what}");
        }
    }

    /// `SELECT COUNT(*) FROM table`.
    pub async fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) FROM {table}")).await
    }

    /// The seed's statement, `INSERT INTO users (email, name) VALUES ($1, $2)
    /// RETURNING id`, with its parameters bound.
    pub async fn insert_user(&self, email: &str, name: &str) -> Result<i64, Refused> {
        match self {
            Self::Postgres(pool) => pool
                .get()
                .await
                .expect("a connection")
                .query_one(
                    "INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id",
                    &[&email, &name],
                )
                .await
                .map(|row| row.get(0))
                .map_err(refused_by_postgres),
            Self::Sqlite(pool) => {
                sqlx::query_scalar("INSERT INTO users (email, name) VALUES (?, ?) RETURNING id")
                    .bind(email)
                    .bind(name)
                    .fetch_one(pool)
                    .await
                    .map_err(refused_by_sqlite)
            }
        }
    }

    /// Runs `sql` in a transaction that is then abandoned, as the seed's
    /// rollback test does when its code raises midway. A refusal is the
    /// statement's own, not the commit's (there is none).
    pub async fn in_abandoned_transaction(&self, sql: &str) -> Result<(), Refused> {
        match self {
            Self::Postgres(pool) => {
                let mut conn = pool.get().await.expect("a connection");
                let tx = conn.transaction().await.expect("BEGIN");
                tx.batch_execute(sql).await.map_err(refused_by_postgres)
            }
            Self::Sqlite(pool) => {
                let mut tx = pool.begin().await.expect("BEGIN");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut *tx)
                    .await
                    .map(drop)
                    .map_err(refused_by_sqlite)
            }
        }
    }

    /// Moves every stored idempotency key 25 hours into the past.
    pub async fn age_idempotency_keys(&self) {
        self.execute(match self {
            Self::Postgres(_) => {
                "UPDATE orderly_idempotency_keys SET created_at = created_at - interval '25 hours'"
            }
            Self::Sqlite(_) => {
                "UPDATE orderly_idempotency_keys SET created_at = created_at - 90000000000"
            }
        })
        .await;
    }

    /// From now on every insert into `table` fails inside the database, as
    /// a full disk or a broken constraint of someone else's would.
    pub async fn fail_inserts_into(&self, table: &str) {
        self.execute(&match self {
            Self::Postgres(_) => format!(
                "CREATE FUNCTION fail_insert() RETURNS trigger LANGUAGE plpgsql
                     AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;
                 CREATE TRIGGER fail_insert BEFORE INSERT ON {table}
                     FOR EACH ROW EXECUTE FUNCTION fail_insert();"
            ),
            Self::Sqlite(_) => format!(
                "CREATE TRIGGER fail_insert BEFORE INSERT ON {table}
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
            ),
        })
        .await;
    }

    /// Lets inserts into `table` through again.
    pub async fn stop_failing_inserts_into(&self, table: &str) {
        self.execute(&match self {
            Self::Postgres(_) => format!("DROP TRIGGER fail_insert ON {table}"),
            Self::Sqlite(_) => "DROP TRIGGER fail_insert".to_owned(),
        })
        .await;
    }

    /// Applies the backend's migrations up to `version`, as an older
    /// release of orderly left its database.
    pub async fn migrate_to(&self, version: i64) {
        match self {
            Self::Postgres(pool) => {
                let migrations = up_to(postgres::MIGRATIONS, version);
                let mut conn = pool.get().await.expect("a connection");
                postgres::migrate(&mut conn, migrations)
                    .await
                    .expect("older migrations apply");
            }
            Self::Sqlite(pool) => {
                let migrations = up_to(sqlite::MIGRATIONS, version);
                sqlite::migrate_file(pool.connect_options().get_filename(), migrations)
                    .await
                    .expect("older migrations apply");
            }
        }
    }

    /// Whether the schema holds a constraint or index called `name`.
    pub async fn has_constraint_named(&self, name: &str) -> bool {
        let sql = match self {
            Self::Postgres(_) => format!(
                "SELECT (SELECT COUNT(*) FROM pg_constraint
                         WHERE conname = '{name}' AND connamespace = current_schema()::regnamespace)
                      + (SELECT COUNT(*) FROM pg_class
                         WHERE relname = '{name}' AND relkind = 'i'
                           AND relnamespace = current_schema()::regnamespace)"
            ),
            Self::Sqlite(_) => format!(
                "SELECT COUNT(*) FROM sqlite_master
                 WHERE name = '{name}' OR sql LIKE '%CONSTRAINT {name} %'"
            ),
        };
        self.scalar(&sql).await > 0
    }

    /// Takes the lock the app's writes of users and orders need, and holds
    /// it until [`WriteLock::release`]: the app's next such write waits.
    pub async fn hold_write_lock(&self) -> WriteLock {
        match self {
            Self::Postgres(pool) => {
                let conn = pool.get().await.expect("a connection");
                conn.batch_execute("BEGIN; LOCK TABLE users, orders IN SHARE MODE")
                    .await
                    .expect("LOCK TABLE");
                WriteLock::Postgres(conn)
            }
            Self::Sqlite(pool) => {
                let mut conn = pool.acquire().await.expect("a connection");
                sqlx::raw_sql("BEGIN IMMEDIATE")
                    .execute(&mut *conn)
                    .await
                    .expect("BEGIN IMMEDIATE");
                WriteLock::Sqlite(conn)
            }
        }
    }
}

/// A write lock held by the test; see [`DbPool::hold_write_lock`].
pub enum WriteLock {
    Postgres(deadpool_postgres::Object),
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
}

impl WriteLock {
    pub async fn release(self) {
        match self {
            Self::Postgres(conn) => conn.batch_execute("COMMIT").await.expect("COMMIT"),
            Self::Sqlite(mut conn) => {
                sqlx::raw_sql("COMMIT")
                    .execute(&mut *conn)
                    .await
                    .expect("COMMIT");
            }
        }
    }
}

fn up_to(migrations: &[Migration], version: i64) -> &[Migration] {
    let count = migrations
        .iter()
        .take_while(|m| m.version <= version)
        .count();
    &migrations[..count]
}

fn refused_by_postgres(e: tokio_postgres::Error) -> Refused {
    match e.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => Refused::UniqueViolation,
        Some(code) if *code == SqlState::FOREIGN_KEY_VIOLATION => Refused::ForeignKeyViolation,
        _ => Refused::Other(e.to_string()),
    }
}

fn refused_by_sqlite(e: sqlx::Error) -> Refused {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Refused::UniqueViolation,
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => Refused::ForeignKeyViolation,
        _ => Refused::Other(e.to_string()),
    }
}
