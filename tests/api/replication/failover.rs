//! The primary crashes under order-creation load and the synchronous
//! standby is promoted (`replicas.sh failover`, what an HA tool would do).
//! orderly, given both servers in a multi-host `DATABASE_URL` with
//! `target_session_attrs=read-write` (and the standbys as read replicas),
//! finds the new primary by itself. Checked: every order acknowledged with
//! 201 is on the new primary with its items and total; every idempotency
//! key retried afterwards resolves to exactly one order; writes succeed
//! again within 10 s of the promotion; during the gap clients get 503 with
//! `Retry-After`, never a 500 or a hang. Load goes both ways orders are
//! written: keyless (the shared pipelined connections) and keyed (a
//! transaction on a pooled connection).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::cluster::{Cluster, Node};
use crate::helpers::database::TestDatabase;
use crate::helpers::process::{stop_load, OrderlyProcess};
use crate::helpers::{time_until, Api};

/// Clients per kind of write.
const CLIENTS: usize = 4;

/// One order request: its key (if keyed), body, and what came back.
struct Attempt {
    key: Option<String>,
    body: String,
    sent_at: Instant,
    answered_at: Instant,
    status: Option<u16>,
    retry_after: bool,
    order_id: Option<i64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promoting_the_synchronous_standby_loses_no_acknowledged_order() {
    let cluster = Cluster::up("failover", 25632);
    let replicas = cluster.replica_urls();
    let app = OrderlyProcess::start_on_url(
        &cluster.writable_url(),
        &[
            ("ORDERLY_READ_REPLICA_URLS", replicas.as_str()),
            ("ORDERLY_DB_CONNECT_TIMEOUT_MS", "1000"),
            ("ORDERLY_REQUEST_TIMEOUT_MS", "8000"),
        ],
    )
    .await;
    let user_id = app.a_user().await;

    let stop = Arc::new(AtomicBool::new(false));
    let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let workers: Vec<_> = (0..CLIENTS * 2)
        .map(|worker| {
            let (stop, attempts, api) = (stop.clone(), attempts.clone(), Api::clone(&app));
            let keyed = worker % 2 == 0;
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = keyed.then(|| format!("failover-{worker}-{n}"));
                    let body = json!({"user_id": user_id, "items": [
                        {"sku": format!("{}-{worker}", if keyed { "K" } else { "U" }), "quantity": n % 5 + 1, "unit_price": 100 + n},
                        {"sku": "EXTRA", "quantity": 1, "unit_price": worker},
                    ]})
                    .to_string();
                    let sent_at = Instant::now();
                    let answer = match &key {
                        Some(key) => api.try_post_with_key("/api/v1/orders", key, &body).await,
                        None => {
                            api.client
                                .post(api.url("/api/v1/orders"))
                                .header("content-type", "application/json")
                                .body(body.clone())
                                .timeout(Duration::from_secs(10))
                                .send()
                                .await
                        }
                    };
                    let mut attempt = Attempt {
                        key,
                        body,
                        sent_at,
                        answered_at: Instant::now(),
                        status: None,
                        retry_after: false,
                        order_id: None,
                    };
                    if let Ok(resp) = answer {
                        attempt.status = Some(resp.status().as_u16());
                        attempt.retry_after = resp.headers().contains_key("retry-after");
                        if resp.status() == 201 {
                            attempt.order_id =
                                resp.json::<Value>().await.ok().and_then(|o| o["id"].as_i64());
                        }
                    }
                    let failed = attempt.status != Some(201);
                    attempts.lock().unwrap().push(attempt);
                    if failed {
                        // As a client that honours Retry-After would,
                        // though sooner: the test wants the gap's edges.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.crash(Node::Primary);
    // Once it is down: requests sent before may still have been answered.
    let crashed_at = Instant::now();
    // An operator (or an HA tool's health checks) takes a moment to decide.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let promoting_at = Instant::now();
    let said = cluster.fail_over();
    let promoted_at = Instant::now();
    // Load goes on until writes have been back for 2 s (15 s at most).
    let deadline = promoted_at + Duration::from_secs(15);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let back = attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.status == Some(201) && a.sent_at > promoted_at)
            .map(|a| a.answered_at)
            .min();
        if back.is_some_and(|at| at.elapsed() > Duration::from_secs(2)) || Instant::now() > deadline
        {
            break;
        }
    }
    let attempts = stop_load(&stop, workers, attempts).await;

    // Over HTTP: 201 or 503 with Retry-After, nothing else, no hang.
    let count = |f: &dyn Fn(&Attempt) -> bool| attempts.iter().filter(|a| f(a)).count();
    let acknowledged = count(&|a| a.status == Some(201));
    let unavailable = count(&|a| a.status == Some(503));
    let server_errors = count(&|a| a.status.is_some_and(|s| s >= 500 && s != 503));
    let no_answer = count(&|a| a.status.is_none());
    assert_eq!(server_errors, 0, "5xx other than 503");
    assert_eq!(no_answer, 0, "requests with no answer within 10 s");
    assert_eq!(
        count(&|a| !matches!(a.status, Some(201) | Some(503))),
        0,
        "statuses other than 201 and 503"
    );
    assert_eq!(
        count(&|a| a.status == Some(503) && !a.retry_after),
        0,
        "503 without Retry-After"
    );
    let before_crash = count(&|a| a.status == Some(201) && a.sent_at < crashed_at);
    assert!(
        before_crash >= 20,
        "too little load before the crash: {before_crash}"
    );
    // The first write acknowledged of those sent after the crash.
    let back_at = attempts
        .iter()
        .filter(|a| a.status == Some(201) && a.sent_at > crashed_at)
        .map(|a| a.answered_at)
        .min()
        .expect("no write succeeded after the failover");
    let back_after = back_at.saturating_duration_since(promoting_at);
    assert!(
        back_after < Duration::from_secs(10),
        "writes back {back_after:?} after the promotion began"
    );

    // On the new primary (standby1): every acknowledged order, whole.
    let db = TestDatabase::Given {
        url: cluster.url(Node::Standby1),
    }
    .pool()
    .await;
    db.assert_every_order_whole().await;
    let acked_ids: Vec<String> = attempts
        .iter()
        .filter_map(|a| a.order_id)
        .map(|id| id.to_string())
        .collect();
    let found = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM orders WHERE id IN ({})",
            acked_ids.join(",")
        ))
        .await;
    assert_eq!(found as usize, acked_ids.len(), "acknowledged orders lost");

    // Every key, acknowledged or not, resolves to exactly one order.
    let mut keys: HashMap<&str, i64> = HashMap::new();
    for attempt in attempts.iter().filter(|a| a.key.is_some()) {
        let key = attempt.key.as_deref().unwrap();
        let resp = app
            .post_with_key("/api/v1/orders", key, &attempt.body)
            .await;
        assert_eq!(resp.status(), 201, "key {key} after the failover");
        let id = resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        if let Some(acked) = attempt.order_id {
            assert_eq!(id, acked, "key {key} now names another order");
        }
        keys.insert(key, id);
    }
    let keyed_orders = db
        .scalar("SELECT COUNT(DISTINCT order_id) FROM order_items WHERE sku LIKE 'K-%'")
        .await;
    assert_eq!(
        keyed_orders as usize,
        keys.len(),
        "one order per key, no more"
    );

    // Reads go on too; the promoted standby no longer serves as a replica.
    let read = app.get(&format!("/api/v1/orders/{}", acked_ids[0])).await;
    assert_eq!(read.status(), 200);
    let promoted = format!("127.0.0.1:{}", cluster.port_of(Node::Standby1));
    let usable = super::usable(&app.client, &app.address, &promoted).await;
    assert_eq!(usable, Some(0.0), "the promoted standby serves no reads");

    println!(
        "failover: {} requests, {acknowledged} acknowledged ({before_crash} before the crash), \
         all {} found on the new primary; {unavailable} x 503 (all with Retry-After), 0 x 500, 0 unanswered; \
         writes back {:.2} s after the crash, {:.2} s after `replicas.sh failover` began \
         (the crash, then 1 s before failing over; the failover took {:.2} s); {} keys retried, one order each. {}",
        attempts.len(),
        acked_ids.len(),
        back_at.duration_since(crashed_at).as_secs_f64(),
        back_after.as_secs_f64(),
        promoted_at.duration_since(promoting_at).as_secs_f64(),
        keys.len(),
        said.trim().replace('\n', "; ")
    );
}

/// `--db-failover-wait-ms`: a write that finds no server to take it (here
/// the one server down, then started again 1.5 s later, as in a
/// restart or a switchover) waits for one and is answered 201; with the
/// wait at 0, the same write is answered 503 at once. Either way nothing is
/// written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waits_for_a_server_to_take_it_within_the_failover_wait() {
    let cluster = Cluster::lone("failover-wait", 26532, "", None);
    let url = cluster.url(Node::Primary);
    let limits = [("ORDERLY_DB_CONNECT_TIMEOUT_MS", "500")];
    let waiting =
        OrderlyProcess::start_on_url(&url, &[limits[0], ("ORDERLY_DB_FAILOVER_WAIT_MS", "10000")])
            .await;
    let impatient =
        OrderlyProcess::start_on_url(&url, &[limits[0], ("ORDERLY_DB_FAILOVER_WAIT_MS", "0")])
            .await;
    let create = |base: String, email: &'static str| {
        let client = waiting.client.clone();
        async move {
            let resp = client
                .post(format!("{base}/api/v1/users"))
                .json(&json!({"email": email, "name": "W"}))
                .timeout(Duration::from_secs(20))
                .send()
                .await
                .expect("an answer");
            let retry_after = resp.headers().contains_key("retry-after");
            (resp.status().as_u16(), retry_after)
        }
    };
    assert_eq!(
        create(waiting.address.clone(), "before@example.com")
            .await
            .0,
        201
    );

    cluster.crash(Node::Primary);
    let (status, retry_after) = create(impatient.address.clone(), "impatient@example.com").await;
    assert_eq!(
        (status, retry_after),
        (503, true),
        "no wait: 503 at once, with Retry-After"
    );
    // Its log line keeps the whole cause: what is known of the statement
    // and why, down to the network's own words for each host.
    let port = cluster.port_of(Node::Primary);
    let failed = || {
        impatient
            .log()
            .into_iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
            .find(|line| line["message"] == "request failed" && line["status"] == 503)
    };
    time_until("the 503 logged", async || failed().is_some()).await;
    let logged = failed().expect("logged");
    let cause = logged["cause"].as_str().unwrap_or_default();
    for part in [
        "the database is unavailable",
        "no server took the statement; it did not run",
        &format!("could not connect to PostgreSQL: 127.0.0.1:{port}"),
        "refused",
    ] {
        assert!(
            cause.contains(part),
            "{part:?} missing from the logged cause: {logged}"
        );
    }
    let sent = Instant::now();
    let pending = tokio::spawn(create(waiting.address.clone(), "waited@example.com"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !pending.is_finished(),
        "the write waits while no server takes it"
    );
    cluster.start(Node::Primary);
    let (status, _) = pending.await.unwrap();
    assert_eq!(status, 201, "answered once the server is back");
    assert!(sent.elapsed() >= Duration::from_millis(1500));
    let count = cluster
        .sql(
            Node::Primary,
            "SELECT count(*) FROM users WHERE email IN ('waited@example.com', 'impatient@example.com')",
        )
        .await;
    assert_eq!(
        count, "1",
        "the waited write once, the refused one not at all"
    );
}
