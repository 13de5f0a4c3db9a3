//! PostgreSQL only: three real `orderly` processes on one database, as
//! behind a load balancer. The database decides races between them, and
//! holds the API keys all three reload.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::process::{create_api_key, revoke_api_key, OrderlyProcess};
use crate::helpers::{time_until, Api, Backend};

const ORDERS: &str = "/api/v1/orders";

/// Three processes on one database, and their base URLs.
async fn three_instances() -> (
    OrderlyProcess,
    Vec<crate::helpers::process::Instance>,
    Vec<String>,
) {
    let app = OrderlyProcess::start(Backend::Postgres, &[]).await;
    let others = vec![app.another_instance().await, app.another_instance().await];
    let mut bases = vec![app.address.clone()];
    bases.extend(others.iter().map(|o| o.address.clone()));
    assert_eq!(
        bases.iter().collect::<BTreeSet<_>>().len(),
        3,
        "three ports"
    );
    (app, others, bases)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_of_one_email_across_instances_give_one_201() {
    let (app, _others, bases) = three_instances().await;
    let client = &app.client;
    let racers: Vec<_> = (0..30)
        .map(|n| {
            let request = client
                .post(format!("{}/api/v1/users", bases[n % 3]))
                .json(&json!({"email": "Race@Example.com", "name": format!("Racer {n}")}));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        29,
        "{statuses:?}"
    );
    let stored = app
        .db_pool
        .scalar("SELECT COUNT(*) FROM users WHERE lower(email) = 'race@example.com'")
        .await;
    assert_eq!(stored, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_across_instances_creates_one_order() {
    let (app, _others, bases) = three_instances().await;
    let user_id = app.a_user().await;
    let apis: Vec<Api> = bases.iter().map(|base| Api::at(base.clone())).collect();
    let body =
        json!({"user_id": user_id, "items": [{"sku": "A", "quantity": 2, "unit_price": 500}]})
            .to_string();
    let key = "one-key-three-instances";
    // At once on every instance: one runs, the others are told it is in
    // flight (409) or get its answer replayed (201).
    let first_round = futures::future::join_all(
        apis.iter()
            .cycle()
            .take(9)
            .map(|api| api.try_post_with_key(ORDERS, key, &body)),
    )
    .await;
    let mut ids = BTreeSet::new();
    for resp in first_round {
        let resp = resp.unwrap();
        match resp.status().as_u16() {
            201 => {
                ids.insert(resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
            }
            409 => assert_eq!(resp.headers()["retry-after"], "1"),
            other => panic!("status {other}"),
        }
    }
    // Retried on each instance once the first has finished: its answer.
    for api in &apis {
        let mut resp = api.post_with_key(ORDERS, key, &body).await;
        for _ in 0..50 {
            if resp.status() != 409 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            resp = api.post_with_key(ORDERS, key, &body).await;
        }
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()["idempotent-replayed"], "true");
        ids.insert(resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    assert_eq!(ids.len(), 1, "one key named several orders: {ids:?}");
    assert_eq!(app.db_pool.count("orders").await, 1);
    assert_eq!(app.db_pool.count("order_items").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_through_one_instance_is_refused_by_all() {
    let (app, _others, bases) = three_instances().await;
    let client = &app.client;
    let get_users = async |base: &str, key: Option<&str>| {
        let mut request = client.get(format!("{base}/api/v1/users"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.unwrap().status().as_u16()
    };
    let database_url = app.database_url();
    let kept = create_api_key(&database_url, "admin").await;
    let revoked = create_api_key(&database_url, "admin").await;
    let took = time_until("every instance takes both keys", async || {
        for base in &bases {
            let statuses = [
                get_users(base, None).await,
                get_users(base, Some(&kept)).await,
                get_users(base, Some(&revoked)).await,
            ];
            if statuses != [401, 200, 200] {
                return false;
            }
        }
        true
    })
    .await;
    println!("two new keys worked on all three instances after {took:?}");
    // Revoked with the command, on the database all three share.
    revoke_api_key(&database_url, 2).await;
    let took = time_until("every instance refuses the revoked key", async || {
        for base in &bases {
            if get_users(base, Some(&revoked)).await != 401 {
                return false;
            }
        }
        true
    })
    .await;
    println!("the revoked key was refused by all three instances after {took:?}");
    assert!(took < Duration::from_secs(3), "revocation took {took:?}");
    for base in &bases {
        assert_eq!(get_users(base, Some(&kept)).await, 200, "{base}");
    }
}
