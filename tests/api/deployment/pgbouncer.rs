//! orderly behind a real PgBouncer (Debian's 1.18, `scripts/topology/pgbouncer.sh`)
//! in front of a server of the test's own: no start-up parameter it
//! refuses, statements that survive transaction pooling, server limits in
//! force through it, and nothing lost or doubled when its server
//! connections are replaced.

use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use tokio_postgres::NoTls;

use crate::helpers::cluster::{Cluster, Node};
use crate::helpers::pgbouncer::PgBouncer;
use crate::helpers::process::{create_api_key, orderly_command, OrderlyProcess};
use crate::helpers::time_until;

/// A server of the test's own on `port` and PgBouncer on `port + 1`.
fn pooled(name: &str, port: u16, mode: &'static str) -> (Cluster, PgBouncer) {
    let server = Cluster::lone(name, port, "", None);
    let bouncer = PgBouncer::up(name, port + 1, port, mode);
    (server, bouncer)
}

/// What transaction pooling needs: no named prepared statements.
const UNNAMED: (&str, &str) = ("ORDERLY_PG_PREPARED_STATEMENTS", "false");

async fn statuses(responses: Vec<reqwest::Result<reqwest::Response>>) -> Vec<u16> {
    responses
        .into_iter()
        .map(|r| r.expect("answered").status().as_u16())
        .collect()
}

/// What one round got back.
#[derive(Debug)]
struct Round {
    creates: Vec<u16>,
    reads: Vec<u16>,
}

impl Round {
    /// Every create 201, every read 200.
    fn all_served(&self) -> bool {
        self.creates.iter().all(|s| *s == 201) && self.reads.iter().all(|s| *s == 200)
    }

    /// Each served, or answered 503 to retry: never another answer.
    fn served_or_unavailable(&self) -> bool {
        self.creates.iter().all(|s| [201, 503].contains(s))
            && self.reads.iter().all(|s| [200, 503].contains(s))
    }
}

/// `count` creates of distinct users and reads of the first, at once.
async fn a_round(app: &OrderlyProcess, round: usize, count: usize) -> Round {
    let creates = (0..count).map(|n| {
        app.client
            .post(app.url("/api/v1/users"))
            .json(&json!({"email": format!("r{round}-{n}@example.com"), "name": "Round"}))
            .send()
    });
    let reads = (0..count).map(|_| app.client.get(app.url("/api/v1/users?limit=5")).send());
    Round {
        creates: statuses(join_all(creates).await).await,
        reads: statuses(join_all(reads).await).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_transaction_pooling_creates_stay_unique_and_idempotent_and_replaced_connections_cost_no_5xx(
) {
    let (server, bouncer) = pooled("pgb-tx", 26332, "transaction");
    let app = OrderlyProcess::start_on_url(&bouncer.url(), &[UNNAMED]).await;

    // One e-mail, twenty creates at once: one 201.
    let same = (0..20).map(|_| {
        app.client
            .post(app.url("/api/v1/users"))
            .json(&json!({"email": "once@example.com", "name": "Once"}))
            .send()
    });
    let mut answers = statuses(join_all(same).await).await;
    answers.sort();
    let mut expected = vec![409; 19];
    expected.insert(0, 201);
    assert_eq!(
        answers, expected,
        "one created, nineteen told the address is taken"
    );

    // One idempotency key, ten orders at once: one order.
    let buyer = app.a_user().await;
    let body = json!({"user_id": buyer, "items": crate::helpers::one_item()}).to_string();
    let keyed = (0..10).map(|_| app.post_with_key("/api/v1/orders", "k-1", &body));
    let mut answers = Vec::new();
    for resp in join_all(keyed).await {
        let replayed = resp.headers().get("idempotent-replayed").is_some();
        answers.push((resp.status().as_u16(), replayed));
    }
    assert_eq!(
        answers.iter().filter(|a| **a == (201, false)).count(),
        1,
        "one ran: {answers:?}"
    );
    assert!(
        answers
            .iter()
            .all(|a| [(201, false), (201, true), (409, false)].contains(a)),
        "the others were told it is in flight (409) or got its answer replayed: {answers:?}"
    );
    let orders = server
        .sql(Node::Primary, "SELECT count(*) FROM orders")
        .await;
    assert_eq!(orders, "1");

    // Every server connection replaced, gracefully and then by force.
    for round in 0..3 {
        let answers = a_round(&app, round, 20).await;
        assert!(answers.all_served(), "{answers:?}");
    }
    bouncer.reconnect();
    let during = a_round(&app, 10, 20).await;
    assert!(during.all_served(), "during RECONNECT: {during:?}");
    server
        .sql(
            Node::Primary,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE backend_type = 'client backend' AND client_addr IS NOT NULL",
        )
        .await;
    // A statement in flight at that instant, or sent to a server
    // connection PgBouncer has not yet found dead, may get 503 (never a
    // 500); once it has found them, none.
    let mut round = 20;
    time_until("a round without 503 after the terminations", async || {
        round += 1;
        let answers = a_round(&app, round, 10).await;
        assert!(answers.served_or_unavailable(), "{answers:?}");
        answers.all_served()
    })
    .await;
    for round in 41..44 {
        let after = a_round(&app, round, 20).await;
        assert!(
            after.all_served(),
            "after the backends were terminated: {after:?}"
        );
    }
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_transaction_pooling_prepared_statements_that_vanish_run_unnamed_instead() {
    let (_server, bouncer) = pooled("pgb-prepared", 26342, "transaction");
    // The default: statements prepared, as a direct connection allows.
    let app = OrderlyProcess::start_on_url(&bouncer.url(), &[]).await;
    let first = a_round(&app, 0, 10).await;
    assert!(first.all_served(), "{first:?}");
    for round in 1..4 {
        bouncer.reconnect();
        let answers = a_round(&app, round, 10).await;
        assert!(answers.all_served(), "round {round}: {answers:?}");
    }
    assert!(
        app.log()
            .iter()
            .any(|line| line.contains("--pg-prepared-statements=false")),
        "no warning that a prepared statement vanished"
    );
    // Keyed creates run in transactions, where a vanished statement
    // aborts the transaction: that request gets a 503 to retry, never a
    // 500, and the retry succeeds.
    bouncer.reconnect();
    for n in 0..10 {
        let mut answers = Vec::new();
        for _ in 0..5 {
            let created = app
                .client
                .post(app.url("/api/v1/users"))
                .header("idempotency-key", format!("keyed-{n}"))
                .json(&json!({"email": format!("keyed{n}@example.com"), "name": "Keyed"}))
                .send()
                .await
                .unwrap();
            answers.push(created.status().as_u16());
            if created.status() == 201 {
                break;
            }
        }
        assert_eq!(answers.last(), Some(&201), "{answers:?}");
        assert!(
            answers.iter().all(|s| *s == 201 || *s == 503),
            "{answers:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_transaction_pooling_a_key_created_or_revoked_directly_takes_effect_within_seconds() {
    let (server, bouncer) = pooled("pgb-keys", 26352, "transaction");
    let direct = server.url(Node::Primary);
    let (code, _, stderr) = orderly_command(&direct, &["migrate"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let kept = create_api_key(&direct, "admin").await;
    // This PgBouncer speaks no TLS: asking for it fails, saying so.
    let tls = format!("{}?sslmode=require", bouncer.url());
    let (code, _, stderr) = orderly_command(&tls, &["migrate"]).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("127.0.0.1:26353: the server does not offer TLS"),
        "{stderr}"
    );
    let app = OrderlyProcess::start_on_url(&bouncer.url(), &[UNNAMED]).await;
    let status = |key: String| {
        let request = app.client.get(app.url("/api/v1/users")).bearer_auth(key);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(kept.clone()).await, 200);

    let new = create_api_key(&direct, "read").await;
    let took = time_until("a key made directly works through the pooler", async || {
        status(new.clone()).await == 200
    })
    .await;
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let (code, listed, _) = orderly_command(&direct, &["keys", "list"]).await;
    assert_eq!(code, Some(0));
    let id = listed
        .lines()
        .find(|line| line.contains(" read"))
        .and_then(|line| line.split_whitespace().next())
        .expect("the new key listed");
    let (code, _, stderr) = orderly_command(&direct, &["keys", "revoke", id]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let took = time_until(
        "a key revoked directly is refused through the pooler",
        async || status(new.clone()).await == 401,
    )
    .await;
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

/// Holds a SHARE lock on `users` (inserts wait, reads do not) from a
/// connection of the test's own, until dropped.
async fn lock_inserts_into_users(server: &Cluster) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server.url(Node::Primary), NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("BEGIN; LOCK TABLE users IN SHARE MODE")
        .await
        .unwrap();
    client
}

const WAITING_INSERTS: &str = "SELECT count(*) FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO users%'";

/// Creates a user (with an idempotency key: in a transaction) while
/// inserts wait for a lock: the server's own `statement_timeout` must end
/// the wait (503), leaving nothing waiting on the server. Were the limit
/// only orderly's, the insert would wait on the server after the 503.
async fn a_blocked_create_is_cancelled_by_the_server(
    app: &OrderlyProcess,
    server: &Cluster,
    keyed: bool,
) {
    let lock = lock_inserts_into_users(server).await;
    let mut request = app
        .client
        .post(app.url("/api/v1/users"))
        .json(&json!({"email": format!("blocked-{keyed}@example.com"), "name": "Blocked"}));
    if keyed {
        request = request.header("idempotency-key", format!("blocked-{keyed}"));
    }
    let answer = request.send().await.unwrap();
    assert_eq!(answer.status(), 503);
    let waiting = server.sql(Node::Primary, WAITING_INSERTS).await;
    assert_eq!(
        waiting, "0",
        "an insert still waits on the server after the 503"
    );
    drop(lock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_time_limits_hold_through_the_pooler_in_both_modes() {
    let limit = ("ORDERLY_DB_QUERY_TIMEOUT_MS", "1000");
    let (server, bouncer) = pooled("pgb-limits-session", 26362, "session");
    let app = OrderlyProcess::start_on_url(&bouncer.url(), &[limit]).await;
    a_blocked_create_is_cancelled_by_the_server(&app, &server, false).await;
    a_blocked_create_is_cancelled_by_the_server(&app, &server, true).await;

    let (server, bouncer) = pooled("pgb-limits-tx", 26372, "transaction");
    let app = OrderlyProcess::start_on_url(&bouncer.url(), &[limit, UNNAMED]).await;
    // Even once every server connection was replaced under orderly's.
    bouncer.reconnect();
    let answers = a_round(&app, 0, 5).await;
    assert!(answers.all_served(), "{answers:?}");
    a_blocked_create_is_cancelled_by_the_server(&app, &server, true).await;
}
