//! The test app: the real application (built by the same function `main`
//! uses) served on an ephemeral loopback port, over its own fresh database,
//! with an HTTP `client` and a `db_pool` on that database, the Rust form of
//! the seed's fixtures.
//!
//! PostgreSQL databases are cloned from a template migrated once (per schema
//! fingerprint) and dropped when the test ends; SQLite databases are files in
//! a temporary directory. Nothing is left behind, so tests run in parallel.

use std::sync::atomic::{AtomicU32, Ordering};

use orderly::config::Settings;
use orderly::startup::Application;
use orderly::storage::{migrations::fingerprint, postgres, sqlite};
use serde_json::Value;
use tokio::sync::OnceCell;
use tokio_postgres::NoTls;

/// Where the PostgreSQL tests find a server that lets them create databases.
pub const PG_URL_VAR: &str = "ORDERLY_TEST_DATABASE_URL";
const PG_DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The test's own connection pool on the app's database, for plain SQL.
pub enum DbPool {
    Postgres(deadpool_postgres::Pool),
    Sqlite(sqlx::SqlitePool),
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db_pool: DbPool,
    _database: TestDatabase,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns with settings adjusted by `configure` (fault points, timings).
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Self {
        let database = TestDatabase::create(backend).await;
        let mut settings = Settings::for_database(database.url());
        configure(&mut settings);
        let app = Application::build(&settings)
            .await
            .expect("the app builds on a fresh database");
        let address = format!("http://{}", app.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        let db_pool = database.pool().await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a client");
        Self {
            address,
            client,
            db_pool,
            _database: database,
            _stop: stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Arrange step: creates a user over HTTP and returns its JSON.
    pub async fn create_user(&self, email: &str, name: &str) -> Value {
        let resp = self
            .post_json(
                "/api/v1/users",
                &serde_json::json!({"email": email, "name": name}),
            )
            .await;
        assert_eq!(resp.status(), 201, "creating {email}");
        resp.json().await.expect("a user")
    }

    /// Runs one statement that needs no result through the test's own pool.
    pub async fn execute(&self, sql: &str) {
        match &self.db_pool {
            DbPool::Postgres(pool) => {
                pool.get()
                    .await
                    .expect("a connection")
                    .batch_execute(sql)
                    .await
                    .expect(sql);
            }
            DbPool::Sqlite(pool) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(pool)
                    .await
                    .expect(sql);
            }
        }
    }

    /// `SELECT COUNT(*) FROM table`.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match &self.db_pool {
            DbPool::Postgres(pool) => pool
                .get()
                .await
                .expect("a connection")
                .query_one(&sql, &[])
                .await
                .expect("count")
                .get(0),
            DbPool::Sqlite(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await
                .expect("count"),
        }
    }

    /// Arrange step: creates an order of `items` for `user_id` over HTTP.
    pub async fn create_order(&self, user_id: i64, items: Value) -> Value {
        let resp = self
            .post_json(
                "/api/v1/orders",
                &serde_json::json!({"user_id": user_id, "items": items}),
            )
            .await;
        assert_eq!(resp.status(), 201, "creating an order for {user_id}");
        resp.json().await.expect("an order")
    }

    /// Sends `body` as JSON with `method`, and an `If-Match` when given.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path)).json(body);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request.send().await.expect("request sent")
    }

    /// Moves every stored idempotency key 25 hours into the past.
    pub async fn age_idempotency_keys(&self) {
        self.execute(match self.db_pool {
            DbPool::Postgres(_) => {
                "UPDATE idempotency_keys SET created_at = created_at - interval '25 hours'"
            }
            DbPool::Sqlite(_) => {
                "UPDATE idempotency_keys SET created_at = created_at - 90000000000"
            }
        })
        .await;
    }

    /// Drops the app's PostgreSQL database under it, as an outage would.
    pub async fn drop_database(&self) {
        if let TestDatabase::Postgres { name } = &self._database {
            drop_pg_database(name).await;
        }
    }
}

/// Asserts a response is problem+json with `status`, and returns the body.
pub async fn assert_problem(resp: reqwest::Response, status: u16, case: &str) -> Value {
    assert_eq!(resp.status(), status, "{case}");
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "{case}"
    );
    let body: Value = resp.json().await.expect("a problem body");
    assert_eq!(body["status"], status, "{case}: {body}");
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{case}: {body}"
    );
    body
}

enum TestDatabase {
    Postgres { name: String },
    Sqlite { dir: tempfile::TempDir },
}

impl TestDatabase {
    async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => {
                let template = pg_template().await;
                let name = unique_name();
                clone_pg_database(&template, &name).await;
                Self::Postgres { name }
            }
            Backend::Sqlite => Self::Sqlite {
                dir: tempfile::tempdir().expect("a temp dir"),
            },
        }
    }

    fn url(&self) -> String {
        match self {
            Self::Postgres { name } => pg_url(name),
            Self::Sqlite { dir } => format!("sqlite://{}", dir.path().join("orderly.db").display()),
        }
    }

    async fn pool(&self) -> DbPool {
        match self {
            Self::Postgres { name } => {
                let mut config = deadpool_postgres::Config::new();
                config.url = Some(pg_url(name));
                let pool = config
                    .create_pool(Some(deadpool_postgres::Runtime::Tokio1), NoTls)
                    .expect("a test pool");
                DbPool::Postgres(pool)
            }
            Self::Sqlite { dir } => {
                let options = sqlite::connect_options(&dir.path().join("orderly.db"));
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

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres { name } = self {
            // Drop runs outside async code (and during panics), so the
            // cleanup gets a thread and a runtime of its own.
            let name = name.clone();
            let cleanup = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime")
                    .block_on(drop_pg_database(&name));
            });
            let _ = cleanup.join();
        }
    }
}

fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "orderly_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn pg_admin_url() -> String {
    std::env::var(PG_URL_VAR).unwrap_or_else(|_| PG_DEFAULT_URL.to_owned())
}

/// The admin URL with another database name.
fn pg_url(database: &str) -> String {
    let mut url = url::Url::parse(&pg_admin_url()).expect("ORDERLY_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

async fn pg_connect(url: &str) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
    match tokio_postgres::connect(url, NoTls).await {
        Ok((client, connection)) => (
            client,
            tokio::spawn(async move {
                let _ = connection.await;
            }),
        ),
        Err(e) => panic!(
            "the PostgreSQL tests need a server: could not connect to {url}: {e}.\n\
             Start the local cluster with `pg_ctlcluster --skip-systemctl-redirect 15 main start` \
             (`bash .ci/run` does this for you), or set {PG_URL_VAR} to a server where this \
             user may CREATE DATABASE."
        ),
    }
}

/// The name of a database migrated to the current schema, built once for
/// all test processes (nextest runs each test in its own) under a lock.
async fn pg_template() -> String {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("orderly_tmpl_{:016x}", fingerprint(postgres::MIGRATIONS));
            let (admin, _conn) = pg_connect(&pg_admin_url()).await;
            admin
                .execute("SELECT pg_advisory_lock(7262)", &[])
                .await
                .expect("the template lock");
            let exists = admin
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await
                .expect("pg_database")
                .is_some();
            if !exists {
                let building = format!("{name}_building");
                for sql in [
                    format!("DROP DATABASE IF EXISTS \"{building}\""),
                    format!("CREATE DATABASE \"{building}\""),
                ] {
                    admin
                        .batch_execute(&sql)
                        .await
                        .expect("CREATE DATABASE for the template");
                }
                let (mut client, connection) = pg_connect(&pg_url(&building)).await;
                postgres::migrate(&mut client)
                    .await
                    .expect("migrating the template");
                // Close the connection fully: a template must have none.
                drop(client);
                let _ = connection.await;
                admin
                    .batch_execute(&format!(
                        "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
                    ))
                    .await
                    .expect("publishing the template");
                drop_stale_templates(&admin, &name).await;
            }
            admin
                .execute("SELECT pg_advisory_unlock(7262)", &[])
                .await
                .expect("unlock");
            name
        })
        .await
        .clone()
}

/// Templates of older schemas are never used again: drop them.
async fn drop_stale_templates(admin: &tokio_postgres::Client, current: &str) {
    let stale = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'orderly\\_tmpl\\_%' AND datname <> $1",
            &[&current],
        )
        .await
        .expect("pg_database");
    for row in stale {
        let name: String = row.get(0);
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
}

async fn clone_pg_database(template: &str, name: &str) {
    let (admin, _conn) = pg_connect(&pg_admin_url()).await;
    let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
    // Two clones of one template at the same instant can collide on it
    // ("being accessed by other users"); that clears within milliseconds.
    for attempt in 0.. {
        match admin.batch_execute(&sql).await {
            Ok(()) => return,
            Err(e)
                if attempt < 100
                    && e.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("could not create test database {name}: {e}"),
        }
    }
}

async fn drop_pg_database(name: &str) {
    let (admin, _conn) = pg_connect(&pg_admin_url()).await;
    if let Err(e) = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
    {
        eprintln!("could not drop test database {name}: {e}");
    }
}

/// Declares each listed `async fn(TestApp)` as two tests, one per backend:
/// `<module>::postgres::<name>` and `<module>::sqlite::<name>`. A test that
/// needs other settings names a `fn(&mut Settings)` after `=>`.
#[macro_export]
macro_rules! on_both_backends {
    (@configure) => { |_: &mut orderly::config::Settings| {} };
    (@configure $configure:expr) => { $configure };
    (@tests $backend:ident; $($name:ident $(=> $configure:expr)?),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                // The settings function lives beside the test, one module up.
                #[allow(unused_imports)]
                use super::*;
                let configure = $crate::on_both_backends!(@configure $($configure)?);
                let backend = $crate::helpers::Backend::$backend;
                super::$name($crate::helpers::TestApp::spawn_with(backend, configure).await).await
            }
        )+
    };
    ($($name:ident $(=> $configure:expr)?),+ $(,)?) => {
        mod postgres {
            $crate::on_both_backends!(@tests Postgres; $($name $(=> $configure)?),+);
        }
        mod sqlite {
            $crate::on_both_backends!(@tests Sqlite; $($name $(=> $configure)?),+);
        }
    };
}
