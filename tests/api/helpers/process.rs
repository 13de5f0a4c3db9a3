//! A real `orderly` process, for what only a process shows: its exit
//! code, its signals, its log lines. (Longer than most: starting,
//! restarting and reading a process, and the `orderly` commands beside it.)

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::database::TestDatabase;
use super::{Api, Backend, DbPool};

impl std::ops::Deref for OrderlyProcess {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Stops load clients: sets `stop`, waits for every worker, and returns
/// what they recorded.
pub async fn stop_load<T>(
    stop: &std::sync::atomic::AtomicBool,
    workers: Vec<tokio::task::JoinHandle<()>>,
    recorded: Arc<Mutex<Vec<T>>>,
) -> Vec<T> {
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let Ok(recorded) = Arc::try_unwrap(recorded) else {
        panic!("a worker still holds the record");
    };
    recorded.into_inner().unwrap()
}

/// Runs `orderly ARGS` to its end on the database at `database_url`;
/// its exit code, standard output and standard error.
pub async fn orderly_command(database_url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let run = Command::new(env!("CARGO_BIN_EXE_orderly"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .unwrap_or_else(|_| panic!("orderly {args:?} still runs after 20 s"))
        .expect("the orderly binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `orderly keys create --role ROLE` on the database at `database_url`:
/// the new key.
pub async fn create_api_key(database_url: &str, role: &str) -> String {
    let (code, stdout, stderr) =
        orderly_command(database_url, &["keys", "create", "--role", role]).await;
    assert_eq!(code, Some(0), "keys create: {stderr}");
    stdout.trim().to_owned()
}

/// `orderly keys revoke ID` on the database at `database_url`.
pub async fn revoke_api_key(database_url: &str, id: i64) {
    let id = id.to_string();
    let (code, _, stderr) = orderly_command(database_url, &["keys", "revoke", &id]).await;
    assert_eq!(code, Some(0), "keys revoke {id}: {stderr}");
}

pub struct OrderlyProcess {
    /// Its address and the request helpers (`api.rs`), through `Deref`.
    api: Api,
    pub db_pool: DbPool,
    child: Child,
    /// Every line the process wrote to stderr (its log), so far.
    log: Arc<Mutex<Vec<String>>>,
    /// Reads the log until the process closes stderr.
    reader: Option<tokio::task::JoinHandle<()>>,
    /// The environment it was started with, on top of the defaults.
    env: Vec<(String, String)>,
    database: TestDatabase,
}

/// A further process on the same database; killed when dropped.
pub struct Instance {
    pub address: String,
    _child: Child,
}

/// One run of the process.
struct Running {
    address: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    reader: tokio::task::JoinHandle<()>,
}

/// What the test does with the process's log once it serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LogReading {
    /// Reads every line, as a log collector would.
    Throughout,
    /// Stops reading (keeping the pipe open): a stuck log collector, whose
    /// pipe fills up.
    UntilServing,
}

impl Running {
    async fn spawn(database_url: &str, env: &[(String, String)]) -> Self {
        Self::spawn_reading(database_url, env, LogReading::Throughout).await
    }

    async fn spawn_reading(
        database_url: &str,
        env: &[(String, String)],
        reading: LogReading,
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orderly"))
            .env("DATABASE_URL", database_url)
            .env("ORDERLY_BIND", "127.0.0.1:0")
            .env("ORDERLY_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the orderly binary starts");
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (serving, address) = tokio::sync::oneshot::channel();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let written = log.clone();
        let reader = tokio::spawn(async move {
            let mut serving = Some(serving);
            while let Ok(Some(line)) = lines.next_line().await {
                let event = serde_json::from_str::<serde_json::Value>(&line).ok();
                written.lock().unwrap().push(line);
                let Some(event) = event.filter(|e| e["message"] == "serving") else {
                    continue;
                };
                if let Some(serving) = serving.take() {
                    let _ = serving.send(event["address"].as_str().unwrap().to_owned());
                }
                if reading == LogReading::UntilServing {
                    // Holds the pipe open, reading no more.
                    std::future::pending::<()>().await;
                }
            }
        });
        let address = tokio::time::timeout(Duration::from_secs(20), address)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "orderly did not serve within 20 s: {:?}",
                    log.lock().unwrap()
                )
            })
            .unwrap_or_else(|_| panic!("orderly exited before serving: {:?}", log.lock().unwrap()));
        Self {
            address: format!("http://{address}"),
            child,
            log,
            reader,
        }
    }
}

/// On the shared PostgreSQL server, a process's connections as the
/// in-process apps have them (`TestApp::spawn_on`), ahead of the test's own
/// `env`, which may override them. With the defaults (2 read, 8 write, up
/// to 16 pooled) a process holds 11 connections idle and up to 27 busy:
/// three tests of three instances each at once passed the server's 100
/// and were refused ("too many clients"). Requests still race on several
/// backends; the database decides either way.
fn shared_server_connections(database: &TestDatabase) -> &'static [(&'static str, &'static str)] {
    match database {
        TestDatabase::Postgres { .. } | TestDatabase::OwnPostgres { .. } => &[
            ("ORDERLY_PG_READ_CONNECTIONS", "1"),
            ("ORDERLY_PG_WRITE_CONNECTIONS", "2"),
            ("ORDERLY_POOL_SIZE", "4"),
        ],
        TestDatabase::Sqlite { .. } | TestDatabase::Given { .. } => &[],
    }
}

impl OrderlyProcess {
    /// Starts `orderly` on a fresh database of `backend`, on a free
    /// loopback port, logging JSON, with `env` on top; returns once it
    /// serves.
    pub async fn start(backend: Backend, env: &[(&str, &str)]) -> Self {
        Self::start_on(TestDatabase::create(backend).await, env).await
    }

    /// Starts `orderly` on the PostgreSQL database at `url`, which the
    /// test made itself (a throwaway cluster's).
    pub async fn start_on_url(url: &str, env: &[(&str, &str)]) -> Self {
        let database = TestDatabase::Given { url: url.into() };
        Self::start_on(database, env).await
    }

    /// Starts `orderly` as `start` does, but stops reading its log (its
    /// standard error) once it serves, keeping the pipe open: a log
    /// collector that got stuck.
    pub async fn start_with_unread_log(backend: Backend) -> Self {
        let database = TestDatabase::create(backend).await;
        Self::start_reading(database, &[], LogReading::UntilServing).await
    }

    async fn start_on(database: TestDatabase, env: &[(&str, &str)]) -> Self {
        Self::start_reading(database, env, LogReading::Throughout).await
    }

    async fn start_reading(
        database: TestDatabase,
        env: &[(&str, &str)],
        reading: LogReading,
    ) -> Self {
        let db_pool = database.pool().await;
        let env: Vec<(String, String)> = shared_server_connections(&database)
            .iter()
            .chain(env)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let running = Running::spawn_reading(&database.url(), &env, reading).await;
        Self {
            api: Api::at(running.address),
            db_pool,
            child: running.child,
            log: running.log,
            reader: Some(running.reader),
            env,
            database,
        }
    }

    /// Starts the process again on the same database (after it exited or
    /// was killed), on a new port; returns once it serves.
    pub async fn restart(&mut self) {
        let _ = self.child.kill().await;
        let running = Running::spawn(&self.database.url(), &self.env).await;
        self.api.address = running.address;
        self.child = running.child;
        self.log = running.log;
        self.reader = Some(running.reader);
    }

    /// Another process on the same database, as a load balancer would
    /// spread requests over. It stops when dropped.
    pub async fn another_instance(&self) -> Instance {
        let running = Running::spawn(&self.database.url(), &self.env).await;
        Instance {
            address: running.address,
            _child: running.child,
        }
    }

    /// The `DATABASE_URL` it runs on.
    pub fn database_url(&self) -> String {
        self.database.url()
    }

    /// The `host:port` it listens on.
    pub fn socket_address(&self) -> &str {
        self.address.trim_start_matches("http://")
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    /// Waits for the process to exit, up to `within`, and for its last log
    /// lines to be read; its exit code.
    pub async fn exit_code(&mut self, within: Duration) -> Option<i32> {
        let code = match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("a wait status").code(),
            Err(_) => panic!("orderly still runs after {within:?}"),
        };
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
        code
    }

    /// The log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}
