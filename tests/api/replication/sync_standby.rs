//! When the synchronous standby is gone, a commit waits for it: orderly's
//! statement limit answers 503 (PostgreSQL's own `statement_timeout` does
//! not cut a commit's wait short). But a cancel sent from outside (an
//! operator's `pg_cancel_backend` on the stuck backends) ends the wait
//! with the commit kept on the primary alone, reported only in a WARNING.
//! orderly must not answer 201 for such a write: a failover to the
//! standby would lose it: it answers 503, on the shared pipelined
//! connections (a keyless create) and in a pooled transaction (a keyed
//! one) alike.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::cluster::{Cluster, Node};
use crate::helpers::process::OrderlyProcess;

const WAITING_FOR_STANDBY: &str =
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_the_synchronous_standby_never_confirmed_is_not_acknowledged() {
    let cluster = Cluster::up("sync-standby", 55932);
    let app = OrderlyProcess::start_on_url(
        &cluster.url(Node::Primary),
        &[("ORDERLY_DB_QUERY_TIMEOUT_MS", "10000")],
    )
    .await;
    let create = |email: &'static str| {
        app.client
            .post(app.url("/api/v1/users"))
            .json(&json!({"email": email, "name": "Sync"}))
            .timeout(Duration::from_secs(20))
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
        .timeout(Duration::from_secs(20))
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
    let deadline = Instant::now() + Duration::from_secs(5);
    while cluster.sql(Node::Primary, WAITING_FOR_STANDBY).await != "1" {
        assert!(Instant::now() < deadline, "no commit waits for the standby");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
