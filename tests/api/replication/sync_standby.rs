//! When the synchronous standby is gone, a commit waits for it: orderly's
//! statement limit answers 503 (PostgreSQL's own `statement_timeout` does
//! not cut a commit's wait short). But a cancel sent from outside (an
//! operator's `pg_cancel_backend` on the stuck backends) ends the wait
//! with the commit kept on the primary alone, reported only in a WARNING.
//! orderly must not answer 201 for such a write: a failover to the
//! standby would lose it: it answers 503, on the shared pipelined
//! connections (a keyless create) and in a pooled transaction (a keyed
//! one) alike. Each commit is judged by what happened to it alone: of two
//! commits waiting at once, only the one whose wait was cancelled is
//! refused.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::cluster::{Cluster, Node};
use crate::helpers::process::OrderlyProcess;

/// orderly on `cluster`'s primary, whose statements may wait 20 s: the
/// commits here wait for the standby until the test ends their wait.
async fn orderly_on_the_primary_of(cluster: &Cluster) -> OrderlyProcess {
    let primary = cluster.url(Node::Primary);
    OrderlyProcess::start_on_url(&primary, &[("ORDERLY_DB_QUERY_TIMEOUT_MS", "20000")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_the_synchronous_standby_never_confirmed_is_not_acknowledged() {
    let cluster = Cluster::up("sync-standby", 25932);
    let app = orderly_on_the_primary_of(&cluster).await;
    let create = |email: &'static str| {
        app.client
            .post(app.url("/api/v1/users"))
            .json(&json!({"email": email, "name": "Sync"}))
            .timeout(Duration::from_secs(30))
            .send()
    };
    assert_eq!(create("before@example.com").await.unwrap().status(), 201);

    cluster.crash(Node::Standby1);
    let keyless = create("unconfirmed@example.com");
    let (status, waited) = cancelled_while_waiting_for_the_standby(&cluster, keyless).await;
    assert_eq!(status, 503, "a keyless commit only the primary has");
    let user_id: i64 = cluster
        .sql(
            Node::Primary,
            "SELECT id FROM users WHERE email = 'unconfirmed@example.com'",
        )
        .await
        .parse()
        .expect("PostgreSQL kept the commit locally: that is why 201 would be wrong");

    let keyed = app
        .client
        .post(app.url("/api/v1/orders"))
        .header("idempotency-key", "unconfirmed-order")
        .json(&json!({"user_id": user_id, "items": [{"sku": "SYNC", "quantity": 1, "unit_price": 5}]}))
        .timeout(Duration::from_secs(30))
        .send();
    let (status, _) = cancelled_while_waiting_for_the_standby(&cluster, keyed).await;
    assert_eq!(status, 503, "a keyed commit only the primary has");
    let kept = cluster
        .sql(
            Node::Primary,
            "SELECT count(*) FROM order_items WHERE sku = 'SYNC'",
        )
        .await;
    assert_eq!(kept, "1", "PostgreSQL kept the order locally");

    println!(
        "unconfirmed commits: each waited for the standby (the first {waited:?}) until cancelled from \
         outside, then 503 (keyless and keyed); both rows are on the primary alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_commits_waiting_for_the_standby_only_the_cancelled_one_is_refused() {
    let cluster = Cluster::up("sync-standby-two", 26032);
    let app = orderly_on_the_primary_of(&cluster).await;
    let user_id = app.a_user().await;
    let order = |key: &'static str| {
        app.client
            .post(app.url("/api/v1/orders"))
            .header("idempotency-key", key)
            .json(&json!({"user_id": user_id, "items": [{"sku": "TWO", "quantity": 1, "unit_price": 5}]}))
            .timeout(Duration::from_secs(40))
            .send()
    };

    // Two keyed creates: two transactions, each on a pooled connection of
    // its own, both committing while the synchronous standby is down.
    cluster.crash(Node::Standby1);
    let mut first = tokio::spawn(order("first-of-two"));
    let mut second = tokio::spawn(order("second-of-two"));
    cluster.until_waiting_for_the_standby(2).await;
    cluster
        .sql(
            Node::Primary,
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
             WHERE wait_event = 'SyncRep' ORDER BY pid LIMIT 1",
        )
        .await;

    // The cancelled one is answered at once; the other goes on waiting.
    let (cancelled, waiting) = tokio::select! {
        answer = &mut first => (answer, second),
        answer = &mut second => (answer, first),
        () = tokio::time::sleep(Duration::from_secs(10)) => panic!("no commit answered after the cancel"),
    };
    let cancelled = cancelled.unwrap().unwrap();
    assert_eq!(
        cancelled.status(),
        503,
        "the commit whose wait was cancelled"
    );
    assert!(cancelled.headers().contains_key("retry-after"));
    cluster.until_waiting_for_the_standby(1).await;
    assert!(!waiting.is_finished(), "the other commit still waits");

    // The standby comes back and confirms the other commit: 201.
    cluster.start(Node::Standby1);
    let confirmed = waiting.await.unwrap().unwrap();
    assert_eq!(
        confirmed.status(),
        201,
        "a commit the standby confirmed, whatever happened to the other: {}",
        confirmed.text().await.unwrap()
    );
    let kept = cluster
        .sql(
            Node::Primary,
            "SELECT count(*) FROM order_items WHERE sku = 'TWO'",
        )
        .await;
    assert_eq!(kept, "2", "both orders are on the primary");
}

/// Sends `request`, waits until its commit waits for the (dead)
/// synchronous standby, cancels that wait from outside as an operator
/// would, and returns the answer's status (503s must carry `Retry-After`)
/// and how long the commit had waited.
async fn cancelled_while_waiting_for_the_standby(
    cluster: &Cluster,
    request: impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
) -> (u16, Duration) {
    let sent = Instant::now();
    let answer = tokio::spawn(request);
    cluster.until_waiting_for_the_standby(1).await;
    let waited = sent.elapsed();
    cluster
        .sql(
            Node::Primary,
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
        )
        .await;
    let resp = answer.await.unwrap().unwrap();
    if resp.status() == 503 {
        assert!(resp.headers().contains_key("retry-after"));
    }
    (resp.status().as_u16(), waited)
}
