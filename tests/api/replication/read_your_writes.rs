//! With replay paused on both standbys, a caller that writes then reads
//! sees its write every time (its reads go to the primary), while another
//! caller's reads are served by the stale replicas; once replay resumes,
//! the writer's reads go to the replicas again. Writes of both kinds: on
//! the shared pipelined connections (no idempotency key) and in a
//! transaction on a pooled connection (with one). Last, a replica that
//! dies is skipped with no error to the client.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{reads_by, until_replicas_caught_up};
use crate::helpers::cluster::{Cluster, Node};
use crate::helpers::process::{create_api_key, OrderlyProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_reads_its_own_writes_while_the_replicas_stand_still() {
    let cluster = Cluster::up("read-your-writes", 25532);
    let primary = cluster.url(Node::Primary);
    let writer = create_api_key(&primary, "admin").await;
    let other = create_api_key(&primary, "read").await;
    let replicas = cluster.replica_urls();
    let app = OrderlyProcess::start_on_url(
        &cluster.writable_url(),
        &[
            ("ORDERLY_READ_REPLICA_URLS", replicas.as_str()),
            // Only read-your-writes keeps the writer off the stale
            // replicas: the lag bound never does within this test.
            ("ORDERLY_REPLICA_MAX_LAG_MS", "600000"),
        ],
    )
    .await;
    let (client, base) = (app.client.clone(), app.address.clone());
    let names: Vec<String> = [Node::Standby1, Node::Standby2]
        .iter()
        .map(|n| format!("127.0.0.1:{}", cluster.port_of(*n)))
        .collect();
    until_replicas_caught_up(&client, &base, &names).await;
    cluster.pause_replay();

    let as_writer = |req: reqwest::RequestBuilder| req.bearer_auth(&writer);
    let as_other = |req: reqwest::RequestBuilder| req.bearer_auth(&other);
    let primary_reads_before = reads_by(&client, &base, "primary").await;

    // Pipelined writes, each read back at once.
    let new_user = json!({"email": "ryw@example.com", "name": "Before"});
    let (_, created) =
        answer(as_writer(client.post(format!("{base}/api/v1/users"))).json(&new_user)).await;
    let id = created["id"].as_i64().expect("created");
    let user_url = format!("{base}/api/v1/users/{id}");
    let (status, got) = answer(as_writer(client.get(&user_url))).await;
    assert_eq!(status, StatusCode::OK, "the writer's own new user");
    assert_eq!(got, created);
    let (status, _) =
        answer(as_writer(client.patch(&user_url)).json(&json!({"name": "After"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, got) = answer(as_writer(client.get(&user_url))).await;
    assert_eq!(got["name"], "After", "the writer's own update");
    let by_email = format!("{base}/api/v1/users?email=ryw@example.com");
    let (_, listed) = answer(as_writer(client.get(by_email))).await;
    assert_eq!(listed["items"][0]["name"], "After", "{listed}");

    // A transaction on a pooled connection (an idempotent create).
    let new_order =
        json!({"user_id": id, "items": [{"sku": "RYW", "quantity": 2, "unit_price": 150}]});
    let keyed = as_writer(client.post(format!("{base}/api/v1/orders")))
        .header("idempotency-key", "ryw-order-1")
        .json(&new_order);
    let (status, order) = answer(keyed).await;
    assert_eq!(status, StatusCode::CREATED);
    let order_url = format!("{base}/api/v1/orders/{}", order["id"]);
    let (status, got) = answer(as_writer(client.get(&order_url))).await;
    assert_eq!(status, StatusCode::OK, "the writer's own new order");
    assert_eq!(got["total"], 300);
    let (_, theirs) = answer(as_writer(client.get(format!("{user_url}/orders")))).await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 1, "{theirs}");

    let primary_reads = reads_by(&client, &base, "primary").await - primary_reads_before;
    assert!(
        primary_reads >= 5.0,
        "the writer's reads went to the primary: {primary_reads}"
    );

    // Another caller, who wrote nothing, reads from the stale replicas:
    // proof that they serve, and stand before the writer's writes.
    let before = replica_reads(&client, &base, &names).await;
    let (status, _) = answer(as_other(client.get(&user_url))).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a paused replica has no such user yet"
    );
    let (status, _) = answer(as_other(client.get(&order_url))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        replica_reads(&client, &base, &names).await - before,
        2.0,
        "served by the replicas"
    );

    // Replay resumes: the writer's reads go to the replicas again, and the
    // other caller sees everything.
    cluster.resume_replay();
    cluster.until_standbys_replayed_all();
    // orderly sees it at its next check of the replicas.
    tokio::time::sleep(3 * orderly::storage::postgres::REPLICA_CHECK_EVERY).await;
    let before = replica_reads(&client, &base, &names).await;
    let primary_before = reads_by(&client, &base, "primary").await;
    for _ in 0..4 {
        let (_, got) = answer(as_writer(client.get(&user_url))).await;
        assert_eq!(got["name"], "After");
    }
    let (status, _) = answer(as_other(client.get(&order_url))).await;
    assert_eq!(status, StatusCode::OK);
    let served = replica_reads(&client, &base, &names).await - before;
    assert_eq!(served, 5.0, "all five reads on replicas");
    assert_eq!(reads_by(&client, &base, "primary").await, primary_before);
    // A replica that dies is skipped, with no error to the client.
    cluster.crash(Node::Standby2);
    for _ in 0..10 {
        let got = as_other(client.get(&order_url)).send().await.unwrap();
        assert_eq!(
            got.status(),
            StatusCode::OK,
            "a read while a replica is down"
        );
    }
    tokio::time::sleep(3 * orderly::storage::postgres::REPLICA_CHECK_EVERY).await;
    let dead = super::usable(&client, &base, &names[1]).await;
    assert_eq!(dead, Some(0.0), "the dead replica is marked unusable");
    let live_before = reads_by(&client, &base, &names[0]).await;
    for _ in 0..4 {
        let got = as_other(client.get(&order_url)).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK);
    }
    let live = reads_by(&client, &base, &names[0]).await - live_before;
    assert_eq!(live, 4.0, "the live replica serves every read");

    println!(
        "read-your-writes: {primary_reads} reads of the writer on the primary while replay was paused; \
         the other caller's 2 on paused replicas (404); after resuming, 5 of 5 on replicas"
    );
}

/// Reads served by all the replicas named.
async fn replica_reads(client: &reqwest::Client, base: &str, names: &[String]) -> f64 {
    let mut total = 0.0;
    for name in names {
        total += reads_by(client, base, name).await;
    }
    total
}

/// Sends `request`; its status and JSON body (null when it has none).
async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = request.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}
