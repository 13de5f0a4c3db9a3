//! PostgreSQL only: the database goes away under a running service. A
//! loopback proxy between the app and PostgreSQL, which the test controls,
//! breaks the connections from outside the app: resets them, refuses new
//! ones, swallows their bytes (a black hole), and PostgreSQL itself
//! terminates the app's backends. (Longer than most: one scenario per
//! kind of outage, each timed.)

use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::pg_schemas;
use crate::helpers::proxy::Proxy;
use crate::helpers::{assert_problem, Backend, TestApp};

/// The PostgreSQL server's own address, which the proxy forwards to.
fn pg_server() -> std::net::SocketAddr {
    let url = url::Url::parse(&pg_schemas::admin_url()).expect("a URL");
    let host = url.host_str().expect("a host");
    (host, url.port().unwrap_or(5432))
        .to_socket_addrs()
        .expect("a resolvable host")
        .next()
        .expect("an address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_gives_503_with_retry_after_and_no_internals() {
    let proxy = Proxy::start(pg_server()).await;
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.database.url = proxy.rewrite(&settings.database.url);
        settings.database.pool_timeout = Duration::from_secs(1);
    })
    .await;
    let user = app.create_user("ada@example.com", "Ada").await;

    proxy.cut();

    let resp = app.get(&format!("/api/v1/users/{}", user["id"])).await;
    assert_eq!(resp.headers()["retry-after"], "1");
    let problem = assert_problem(resp, 503, "database gone").await;
    let text = problem.to_string().to_lowercase();
    for leak in [
        "sql",
        "postgres",
        "connection",
        "orderly_tests",
        "127.0.0.1",
    ] {
        assert!(!text.contains(leak), "503 leaks {leak:?}: {text}");
    }
    assert_problem(app.get("/readyz").await, 503, "readyz").await;
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "alive, though not ready"
    );
}

/// The time limits the app runs with here, short so the test is quick.
const POOL_TIMEOUT_MS: u64 = 1_000;
const QUERY_TIMEOUT_MS: u64 = 1_000;
const CONNECT_TIMEOUT_MS: u64 = 1_000;
const REQUEST_TIMEOUT_MS: u64 = 5_000;
/// How long the load's client waits before it calls a request hung.
const HUNG_AFTER: Duration = Duration::from_secs(10);
/// The app must serve again this soon after the database does.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);

/// One answered (or hung) request of the load.
struct Outcome {
    started: Instant,
    took: Duration,
    /// `None`: no answer within `HUNG_AFTER`.
    status: Option<u16>,
    retry_after: bool,
}

impl Outcome {
    fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Concurrent clients reading users, creating users, and creating orders
/// with idempotency keys, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(app: &TestApp, user: i64, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let counter = Arc::new(AtomicUsize::new(0));
        let workers = (0..clients)
            .map(|worker| {
                let (stop, outcomes, counter) = (stop.clone(), outcomes.clone(), counter.clone());
                let client = app.client.clone();
                let base = app.address.clone();
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let request = match (worker + n) % 3 {
                            0 => client.get(format!("{base}/api/v1/users/{user}")),
                            1 => client.post(format!("{base}/api/v1/users")).json(
                                &json!({"email": format!("load{n}@example.com"), "name": "L"}),
                            ),
                            _ => client
                                .post(format!("{base}/api/v1/orders"))
                                .header("idempotency-key", format!("outage-{n}"))
                                .json(
                                    &json!({"user_id": user, "items": crate::helpers::one_item()}),
                                ),
                        };
                        let started = Instant::now();
                        let answer = request.timeout(HUNG_AFTER).send().await;
                        let took = started.elapsed();
                        let (status, retry_after) = match &answer {
                            Ok(resp) => (
                                Some(resp.status().as_u16()),
                                resp.headers().get("retry-after").is_some(),
                            ),
                            Err(_) => (None, false),
                        };
                        outcomes.lock().unwrap().push(Outcome {
                            started,
                            took,
                            status,
                            retry_after,
                        });
                        if status == Some(503) {
                            // A well-behaved client backs off a little.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            outcomes,
            workers,
        }
    }

    async fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.await.unwrap();
        }
        Arc::try_unwrap(self.outcomes)
            .ok()
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

/// Waits until `/readyz` says `status`, up to `within`; returns how long.
async fn ready_turns(app: &TestApp, status: u16, within: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < within {
        if app.get("/readyz").await.status() == status {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz did not turn {status} within {within:?}");
}

/// What one fault did to the load, from its start to `RECOVERY_BOUND`
/// after its end.
struct Phase {
    name: &'static str,
    began: Instant,
    ended: Instant,
}

impl Phase {
    fn report(&self, outcomes: &[Outcome]) {
        let window_end = self.ended + RECOVERY_BOUND;
        let during: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.started >= self.began && o.started < window_end)
            .collect();
        let count = |f: &dyn Fn(&Outcome) -> bool| during.iter().filter(|o| f(o)).count();
        let ok = count(&Outcome::succeeded);
        let unavailable = count(&|o| o.status == Some(503));
        let hung = count(&|o| o.status.is_none());
        let slowest = during.iter().map(|o| o.took).max().unwrap_or_default();
        let other: Vec<Option<u16>> = during
            .iter()
            .map(|o| o.status)
            .filter(|s| !s.is_some_and(|s| (200..300).contains(&s) || s == 503))
            .collect();
        // Recovered: from the end of the fault to the first success of a
        // request sent after it, past which nothing failed again.
        let after: Vec<&&Outcome> = during.iter().filter(|o| o.started >= self.ended).collect();
        let last_failure = after
            .iter()
            .filter(|o| !o.succeeded())
            .map(|o| o.started + o.took)
            .max();
        let recovered_at = after
            .iter()
            .filter(|o| o.succeeded())
            .map(|o| o.started + o.took)
            .filter(|done| last_failure.is_none_or(|f| *done > f))
            .min();
        let recovery = recovered_at.map(|at| at.saturating_duration_since(self.ended));
        println!(
            "outage phase {:<22} requests {:>5}  2xx {:>5}  503 {:>4}  500 {:>2}  other {:?}  hung {}  slowest {:>5} ms  recovered in {}",
            self.name,
            during.len(),
            ok,
            unavailable,
            count(&|o| o.status == Some(500)),
            other,
            hung,
            slowest.as_millis(),
            recovery.map_or("never".into(), |r| format!("{} ms", r.as_millis())),
        );
        assert!(
            other.is_empty(),
            "{}: answers other than 2xx or 503: {other:?}",
            self.name
        );
        assert_eq!(
            hung, 0,
            "{}: requests got no answer within {HUNG_AFTER:?}",
            self.name
        );
        let bound = Duration::from_millis(REQUEST_TIMEOUT_MS + 500);
        assert!(
            slowest <= bound,
            "{}: a request took {slowest:?}, over {bound:?}",
            self.name
        );
        assert!(
            during
                .iter()
                .filter(|o| o.status == Some(503))
                .all(|o| o.retry_after),
            "{}: a 503 without Retry-After",
            self.name
        );
        let recovery = recovery.unwrap_or_else(|| panic!("{}: never served again", self.name));
        assert!(
            recovery <= RECOVERY_BOUND,
            "{}: recovered only after {recovery:?}",
            self.name
        );
    }
}

/// Under concurrent load, each way the database can go away: the app
/// answers 503 with `Retry-After` (never 500, never a hang, never slower
/// than its time limits), `/readyz` turns 503 within seconds, and the app
/// serves again within seconds of the database coming back, by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_outage_gives_fast_503s_and_heals_by_itself() {
    let proxy = Proxy::start(pg_server()).await;
    // A name of its own in pg_stat_activity, so that the test terminates
    // this app's backends and nobody else's.
    let name = format!("orderly-outage-{}", std::process::id());
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        let mut url = url::Url::parse(&proxy.rewrite(&settings.database.url)).unwrap();
        url.query_pairs_mut().append_pair("application_name", &name);
        settings.database.url = url.to_string();
        settings.database.pool_timeout = Duration::from_millis(POOL_TIMEOUT_MS);
        settings.postgres.query_timeout = Duration::from_millis(QUERY_TIMEOUT_MS);
        settings.postgres.connect_timeout = Duration::from_millis(CONNECT_TIMEOUT_MS);
        settings.http.request_timeout = Duration::from_millis(REQUEST_TIMEOUT_MS);
    })
    .await;
    let user = app.a_user().await;
    let load = Load::start(&app, user, 6);
    let mut phases = Vec::new();
    // Each fault's window runs to `RECOVERY_BOUND` after its end; the next
    // fault starts a second later, so that windows do not overlap.
    let recover = || tokio::time::sleep(RECOVERY_BOUND + Duration::from_secs(1));
    tokio::time::sleep(Duration::from_secs(1)).await;

    let began = Instant::now();
    proxy.reset_all();
    phases.push(Phase {
        name: "reset connections",
        began,
        ended: Instant::now(),
    });
    recover().await;

    let began = Instant::now();
    proxy.cut();
    let not_ready = ready_turns(&app, 503, Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.accept_again().await;
    phases.push(Phase {
        name: "refuse new connections",
        began,
        ended: Instant::now(),
    });
    println!(
        "outage refuse: /readyz turned 503 after {} ms",
        not_ready.as_millis()
    );
    ready_turns(&app, 200, RECOVERY_BOUND).await;
    recover().await;

    let began = Instant::now();
    proxy.black_hole();
    let not_ready = ready_turns(&app, 503, Duration::from_secs(4)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.end_black_hole();
    phases.push(Phase {
        name: "black hole",
        began,
        ended: Instant::now(),
    });
    println!(
        "outage black hole: /readyz turned 503 after {} ms",
        not_ready.as_millis()
    );
    ready_turns(&app, 200, RECOVERY_BOUND).await;
    recover().await;

    let began = Instant::now();
    let terminated = app
        .db_pool
        .scalar(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE application_name = '{name}'"
        ))
        .await;
    assert!(
        terminated >= 2,
        "the app had {terminated} backends to terminate"
    );
    phases.push(Phase {
        name: "pg_terminate_backend",
        began,
        ended: Instant::now(),
    });
    recover().await;

    let outcomes = load.stop().await;
    for phase in &phases {
        phase.report(&outcomes);
    }
    let unavailable = outcomes.iter().filter(|o| o.status == Some(503)).count();
    assert!(
        unavailable > 0,
        "no fault reached the app: the test proves nothing"
    );
}
