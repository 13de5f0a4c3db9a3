//! Read-your-writes through any instance (`--session-store`), and
//! replicas that follow the cluster (`--read-from-standbys`).
//!
//! Several orderly processes on one throwaway cluster with replay paused
//! on both standbys, as instances behind a load balancer: a caller that
//! writes through one instance and reads through another sees its write
//! when the instances share a session store (its own Redis database
//! number), and reads the stale replica when they do not, the failure the
//! store exists for. A store that stalls or is gone costs a bounded wait,
//! sends reads to the primary and is counted; a write still succeeds.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{reads_by, sample, scrape, until_replicas_caught_up, usable};
use crate::helpers::cluster::{Cluster, Node};
use crate::helpers::process::{create_api_key, OrderlyProcess};

/// An empty Redis database of the test's own on the machine's Redis.
async fn own_redis_database(number: u8) -> String {
    let url = format!("redis://127.0.0.1:6379/{number}");
    let client = redis::Client::open(url.as_str()).expect("a Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| {
            panic!("these tests need Redis at 127.0.0.1:6379 (start it: `redis-server --daemonize yes`): {e}")
        });
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    url
}

/// Overwrites every caller's kept position in Redis database `number`.
async fn overwrite_floors(number: u8, value: &str) {
    let url = format!("redis://127.0.0.1:6379/{number}");
    let client = redis::Client::open(url.as_str()).expect("a Redis URL");
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("orderly:floor:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "no floor kept in Redis database {number}");
    for key in keys {
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .arg("KEEPTTL")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = request.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Replicas serve reads and stand still from here on: replay paused, the
/// lag bound out of reach within the test.
fn replica_settings(cluster: &Cluster) -> Vec<(&'static str, String)> {
    vec![
        ("ORDERLY_READ_REPLICA_URLS", cluster.replica_urls()),
        ("ORDERLY_REPLICA_MAX_LAG_MS", "600000".into()),
    ]
}

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn standby_names(cluster: &Cluster) -> Vec<String> {
    [Node::Standby1, Node::Standby2]
        .iter()
        .map(|n| format!("127.0.0.1:{}", cluster.port_of(*n)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_reads_its_own_writes_through_any_instance_only_with_a_session_store() {
    let cluster = Cluster::up("across-instances", 26632);
    let key = create_api_key(&cluster.url(Node::Primary), "admin").await;
    let mut shared = replica_settings(&cluster);
    shared.push(("ORDERLY_SESSION_STORE", own_redis_database(11).await));
    let a = OrderlyProcess::start_on_url(&cluster.writable_url(), &pairs(&shared)).await;
    let b = a.another_instance().await;
    let alone = replica_settings(&cluster);
    let c = OrderlyProcess::start_on_url(&cluster.writable_url(), &pairs(&alone)).await;
    let d = c.another_instance().await;
    let client = a.client.clone();
    for base in [&a.address, &b.address, &c.address, &d.address] {
        until_replicas_caught_up(&client, base, &standby_names(&cluster)).await;
    }
    cluster.pause_replay();
    let call = |req: reqwest::RequestBuilder| answer(req.bearer_auth(&key));

    // With the store: written through A, read through B, and back.
    let (status, created) = call(
        client
            .post(format!("{}/api/v1/users", a.address))
            .json(&json!({"email": "shared@example.com", "name": "Before"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("/api/v1/users/{}", created["id"]);
    let (status, got) = call(client.get(format!("{}{path}", b.address))).await;
    assert_eq!(status, StatusCode::OK, "B reads the write A took: {got}");
    assert_eq!(got, created);
    let (status, _) = call(
        client
            .patch(format!("{}{path}", b.address))
            .json(&json!({"name": "After"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, got) = call(client.get(format!("{}{path}", a.address))).await;
    assert_eq!(got["name"], "After", "A reads the update B took");
    let by_email = "/api/v1/users?email=shared@example.com";
    let (_, listed) = call(client.get(format!("{}{by_email}", b.address))).await;
    assert_eq!(listed["items"][0]["name"], "After", "{listed}");
    let order = json!({"user_id": created["id"], "items": [{"sku": "S", "quantity": 3, "unit_price": 100}]});
    let (status, made) = call(
        client
            .post(format!("{}/api/v1/orders", b.address))
            .header("idempotency-key", "across-1")
            .json(&order),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (status, got) =
        call(client.get(format!("{}/api/v1/orders/{}", a.address, made["id"]))).await;
    assert_eq!(status, StatusCode::OK, "A reads the order B took: {got}");
    assert_eq!(got["total"], 300);

    // A position the store holds but cannot be read is unknown, not 0: B
    // reads from the primary, not from the paused replicas.
    let (status, written) = call(
        client
            .post(format!("{}/api/v1/users", a.address))
            .json(&json!({"email": "unreadable@example.com", "name": "U"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{written}");
    overwrite_floors(11, "not-a-position").await;
    let (status, got) =
        call(client.get(format!("{}/api/v1/users/{}", b.address, written["id"]))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "B, whose floor is unreadable, reads the primary: {got}"
    );

    // Without it: written through C, read through D, whose reads go to
    // the paused replicas, which have never heard of the user.
    let (status, created) = call(
        client
            .post(format!("{}/api/v1/users", c.address))
            .json(&json!({"email": "alone@example.com", "name": "Alone"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) =
        call(client.get(format!("{}/api/v1/users/{}", d.address, created["id"]))).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "without a session store, D knows nothing of C's write and reads the paused replica"
    );
    let (status, _) =
        call(client.get(format!("{}/api/v1/users/{}", c.address, created["id"]))).await;
    assert_eq!(status, StatusCode::OK, "C itself reads its write");
    assert!(
        reads_by(&client, &d.address, "127.0.0.1:26633").await
            + reads_by(&client, &d.address, "127.0.0.1:26634").await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_store_that_stalls_or_is_gone_sends_reads_to_the_primary() {
    let cluster = Cluster::up("session-store-down", 26732);
    let key = create_api_key(&cluster.url(Node::Primary), "admin").await;
    // A "Redis" that accepts connections and never answers.
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stalled_port = stalled.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = stalled.accept().await {
            held.push(socket);
        }
    });
    // Nothing listens there: the listener is dropped at once.
    let gone_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for (what, port) in [("stalls", stalled_port), ("is gone", gone_port)] {
        let mut env = replica_settings(&cluster);
        env.push((
            "ORDERLY_SESSION_STORE",
            format!("redis://127.0.0.1:{port}/0"),
        ));
        env.push(("ORDERLY_SESSION_STORE_TIMEOUT_MS", "150".into()));
        // Were the wait unbounded, each request would end in this
        // timeout's 503.
        env.push(("ORDERLY_REQUEST_TIMEOUT_MS", "2000".into()));
        let a = OrderlyProcess::start_on_url(&cluster.writable_url(), &pairs(&env)).await;
        let b = a.another_instance().await;
        let client = a.client.clone();
        for base in [&a.address, &b.address] {
            until_replicas_caught_up(&client, base, &standby_names(&cluster)).await;
        }
        cluster.pause_replay();
        let call = |req: reqwest::RequestBuilder| answer(req.bearer_auth(&key));
        let email = format!("store-{}@example.com", port);
        let (status, created) = call(
            client
                .post(format!("{}/api/v1/users", a.address))
                .json(&json!({"email": email, "name": "N"})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "a write stands when the store {what}: {created}"
        );
        let primary_before = reads_by(&client, &b.address, "primary").await;
        for _ in 0..3 {
            let (status, got) =
                call(client.get(format!("{}/api/v1/users/{}", b.address, created["id"]))).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "B reads from the primary when the store {what}: {got}"
            );
        }
        assert!(reads_by(&client, &b.address, "primary").await - primary_before >= 3.0);
        let metrics = scrape(&client, &b.address).await;
        let failed_reads = sample(
            &metrics,
            "orderly_session_store_failures_total{op=\"read\"}",
        );
        assert!(
            failed_reads.is_some_and(|n| n >= 3.0),
            "read failures counted when the store {what}:\n{metrics}"
        );
        let metrics = scrape(&client, &a.address).await;
        let failed_writes = sample(
            &metrics,
            "orderly_session_store_failures_total{op=\"write\"}",
        );
        assert!(
            failed_writes.is_some_and(|n| n >= 1.0),
            "write failures counted when the store {what}:\n{metrics}"
        );
        cluster.resume_replay();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standbys_found_in_database_url_serve_reads_and_a_promoted_one_stops() {
    let cluster = Cluster::up("read-from-standbys", 26832);
    let key = create_api_key(&cluster.url(Node::Primary), "admin").await;
    let reader = create_api_key(&cluster.url(Node::Primary), "read").await;
    let every_host = "postgres://postgres@127.0.0.1:26832,127.0.0.1:26833,127.0.0.1:26834/postgres?target_session_attrs=read-write";
    let app = OrderlyProcess::start_on_url(
        every_host,
        &[
            ("ORDERLY_READ_FROM_STANDBYS", "true"),
            ("ORDERLY_DB_CONNECT_TIMEOUT_MS", "1000"),
        ],
    )
    .await;
    let (client, base) = (app.client.clone(), app.address.clone());
    until_replicas_caught_up(&client, &base, &standby_names(&cluster)).await;
    assert_eq!(
        usable(&client, &base, "127.0.0.1:26832").await,
        Some(0.0),
        "the primary is listed, but serves no reads as a standby"
    );
    let (status, user) = answer(
        client
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&key)
            .json(&json!({"email": "standbys@example.com", "name": "S"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    cluster.until_standbys_replayed_all();
    let read_user = || {
        answer(
            client
                .get(format!("{base}/api/v1/users/{}", user["id"]))
                .bearer_auth(&reader),
        )
    };
    let before = reads_by(&client, &base, "127.0.0.1:26833").await
        + reads_by(&client, &base, "127.0.0.1:26834").await;
    for _ in 0..4 {
        assert_eq!(read_user().await.0, StatusCode::OK);
    }
    let after = reads_by(&client, &base, "127.0.0.1:26833").await
        + reads_by(&client, &base, "127.0.0.1:26834").await;
    assert_eq!(
        after - before,
        4.0,
        "every read by a caller who wrote nothing went to a standby"
    );

    // The primary dies; standby1 is promoted and standby2 follows it.
    cluster.crash(Node::Primary);
    cluster.fail_over();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let promoted = usable(&client, &base, "127.0.0.1:26833").await;
        if promoted == Some(0.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after the failover, the promoted standby1 should stop serving reads: {promoted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    until_replicas_caught_up(&client, &base, &["127.0.0.1:26834".to_owned()]).await;
    let promoted_before = reads_by(&client, &base, "127.0.0.1:26833").await;
    let follower_before = reads_by(&client, &base, "127.0.0.1:26834").await;
    for _ in 0..4 {
        assert_eq!(read_user().await.0, StatusCode::OK);
    }
    assert_eq!(
        reads_by(&client, &base, "127.0.0.1:26833").await,
        promoted_before
    );
    assert_eq!(
        reads_by(&client, &base, "127.0.0.1:26834").await - follower_before,
        4.0
    );
}
