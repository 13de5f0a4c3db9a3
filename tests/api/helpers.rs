//! The test app: the real application (built by the same function `main`
//! uses) served on an ephemeral loopback port, over its own fresh database,
//! with an HTTP `client` and a `db_pool` on that database, the Rust form of
//! the seed's fixtures. (Longer than most: the request helpers every
//! test shares, and the macro that runs a test on both backends.)

use orderly::config::Settings;
use orderly::startup::Application;
use serde_json::Value;

pub mod api;
pub mod cluster;
pub mod database;
pub mod pg_schemas;
pub mod pgbouncer;
pub mod process;
pub mod proxy;
pub mod receiver;

pub use api::Api;
use database::TestDatabase;
pub use database::{Backend, DbPool, Refused};

pub struct TestApp {
    /// Its address and the request helpers (`api.rs`), through `Deref`.
    api: Api,
    pub db_pool: DbPool,
    settings: Settings,
    _instance: Instance,
    _database: TestDatabase,
}

/// A running app. Dropping it stops the app and waits (a few seconds at
/// most) until it has: its connections are closed before the test's
/// database is emptied for the next test.
pub struct Instance {
    pub address: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    stopped: std::sync::mpsc::Receiver<()>,
}

impl Instance {
    async fn start(settings: &Settings) -> Self {
        let app = match Application::build(settings).await {
            Ok(app) => app,
            Err(e) => panic!("the app does not build on its database: {e:#}"),
        };
        let address = format!("http://{}", app.local_addr());
        let (stop, stop_requested) = tokio::sync::oneshot::channel::<()>();
        let (done, stopped) = std::sync::mpsc::channel();
        tokio::spawn(async move {
            let _ = app
                .run_until(async {
                    let _ = stop_requested.await;
                })
                .await;
            let _ = done.send(());
        });
        Self {
            address,
            stop: Some(stop),
            stopped,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        drop(self.stop.take());
        // Tests run on a multi-threaded runtime, whose workers finish the
        // app while this thread waits.
        let _ = self.stopped.recv_timeout(std::time::Duration::from_secs(5));
    }
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns with settings adjusted by `configure` (timings, a database
    /// URL through a proxy).
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Self {
        let database = TestDatabase::create(backend).await;
        Self::spawn_on(database, async |_| {}, configure).await
    }

    /// Spawns on a database no other test uses (`TestDatabase::create_own`).
    pub async fn spawn_in_own_database(
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let database = TestDatabase::create_own(backend).await;
        Self::spawn_on(database, async |_| {}, configure).await
    }

    /// Spawns after `prepare` has worked on an empty database (not even
    /// migrated), before the app migrates it on start.
    pub async fn spawn_prepared(
        backend: Backend,
        prepare: impl AsyncFnOnce(&DbPool),
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let database = TestDatabase::create_empty(backend).await;
        Self::spawn_on(database, prepare, configure).await
    }

    /// Spawns on an empty PostgreSQL schema after `prepare` has worked on
    /// it, given its URL too (another service's tables, adopted through
    /// the command line).
    pub async fn spawn_after(prepare: impl AsyncFnOnce(&DbPool, &str)) -> Self {
        let database = TestDatabase::create_empty(Backend::Postgres).await;
        let url = database.url();
        Self::spawn_on(database, async |db| prepare(db, &url).await, |_| {}).await
    }

    async fn spawn_on(
        database: TestDatabase,
        prepare: impl AsyncFnOnce(&DbPool),
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let db_pool = database.pool().await;
        prepare(&db_pool).await;
        let mut settings = Settings::for_database(database.url());
        // Every PostgreSQL connection costs the server a process start-up.
        // Two shared write connections still let requests race each other
        // on two backends; the database decides either way.
        settings.postgres.read_connections = 1;
        settings.postgres.write_connections = 2;
        settings.database.pool_size = 4;
        configure(&mut settings);
        let instance = Instance::start(&settings).await;
        Self {
            api: Api::at(instance.address.clone()),
            db_pool,
            settings,
            _instance: instance,
            _database: database,
        }
    }

    /// Another instance of the service on the same database, as a load
    /// balancer would spread requests over.
    pub async fn another_instance(&self) -> Instance {
        Instance::start(&self.settings).await
    }

    /// The `DATABASE_URL` the app runs on, for `orderly` commands.
    pub fn database_url(&self) -> &str {
        &self.settings.database.url
    }

    /// Asserts that a user created under idempotency key `key` is stored,
    /// with its response, in orderly's own `orderly_idempotency_keys`,
    /// and only there (the first keyed request on this database).
    pub async fn assert_keyed_create_is_stored(&self, key: &str) {
        let body = format!(r#"{{"email": "{key}@example.com", "name": "K"}}"#);
        let created = self.post_with_key("/api/v1/users", key, &body).await;
        assert_eq!(created.status(), 201);
        assert_eq!(self.db_pool.count("orderly_idempotency_keys").await, 1);
    }
}

/// Polls `condition` every 20 ms until it holds, for at most 10 s; how
/// long it took.
pub async fn time_until(
    what: &str,
    mut condition: impl AsyncFnMut() -> bool,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    while !condition().await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "still not so after 10 s: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// A response header as text; empty when absent.
pub fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().expect("a text header").to_owned())
        .unwrap_or_default()
}

/// The `Location` and `ETag` of a create's answer.
pub fn location_and_etag(created: &reqwest::Response) -> (String, String) {
    (header(created, "location"), header(created, "etag"))
}

/// One line of one item, the smallest valid order.
pub fn one_item() -> Value {
    serde_json::json!([{"sku": "A", "quantity": 1, "unit_price": 5}])
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

/// The fields a validation problem names, in order.
pub fn problem_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a problem with errors: {problem}"))
        .iter()
        .map(|e| e["field"].as_str().expect("a field name"))
        .collect()
}

/// The ids of the items of a page.
pub fn page_ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .map(|item| item["id"].as_i64().expect("an id"))
        .collect()
}

/// Declares each listed `async fn(TestApp)` as two tests, one per backend:
/// `<module>::postgres::<name>` and `<module>::sqlite::<name>`. A test that
/// needs other settings names a `fn(&mut Settings)` after `=>`. After
/// `own_database:`, each runs on a database no other test uses
/// (`TestApp::spawn_in_own_database`).
#[macro_export]
macro_rules! on_both_backends {
    (@configure) => { |_: &mut orderly::config::Settings| {} };
    (@configure $configure:expr) => { $configure };
    (@tests $spawn:ident $backend:ident; $($name:ident $(=> $configure:expr)?),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                // The settings function lives beside the test, one module up.
                #[allow(unused_imports)]
                use super::*;
                let configure = $crate::on_both_backends!(@configure $($configure)?);
                let backend = $crate::helpers::Backend::$backend;
                super::$name($crate::helpers::TestApp::$spawn(backend, configure).await).await
            }
        )+
    };
    (@modules $spawn:ident; $($name:ident $(=> $configure:expr)?),+) => {
        mod postgres {
            $crate::on_both_backends!(@tests $spawn Postgres; $($name $(=> $configure)?),+);
        }
        mod sqlite {
            $crate::on_both_backends!(@tests $spawn Sqlite; $($name $(=> $configure)?),+);
        }
    };
    (own_database: $($name:ident $(=> $configure:expr)?),+ $(,)?) => {
        $crate::on_both_backends!(@modules spawn_in_own_database; $($name $(=> $configure)?),+);
    };
    ($($name:ident $(=> $configure:expr)?),+ $(,)?) => {
        $crate::on_both_backends!(@modules spawn_with; $($name $(=> $configure)?),+);
    };
}
