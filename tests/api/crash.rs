//! On each backend, a real `orderly` process is killed (SIGKILL) while it
//! creates orders with idempotency keys under load, then restarted (on
//! SQLite: with writes committed in batches, each answered after its
//! batch's commit). In
//! SQL, nothing is half-written and nothing acknowledged is lost; over
//! HTTP, every key, acknowledged or cut off by the crash, resolves on retry
//! to exactly one order, at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::process::{stop_load, OrderlyProcess};
use crate::helpers::Api;
use crate::helpers::Backend;

const CLIENTS: usize = 8;

/// A key, the body it was sent with, and the order id of its 201, if one
const ORDERS: &str = "/api/v1/orders";

/// came back before the crash.
struct Attempt {
    key: String,
    body: String,
    acknowledged: Option<i64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigkill_under_load_loses_nothing_acknowledged_and_leaves_no_key_stuck() {
    sigkill_under_load_loses_nothing_acknowledged(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigkill_under_load_loses_nothing_acknowledged_and_leaves_no_key_stuck() {
    sigkill_under_load_loses_nothing_acknowledged(Backend::Sqlite).await
}

async fn sigkill_under_load_loses_nothing_acknowledged(backend: Backend) {
    let mut app = OrderlyProcess::start(backend, &[]).await;
    let user_id = app.a_user().await;

    let stop = Arc::new(AtomicBool::new(false));
    let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|worker| {
            let (stop, attempts, api) = (stop.clone(), attempts.clone(), Api::clone(&app));
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = format!("crash-{worker}-{n}");
                    // Items differ per key, so a total tells orders apart.
                    let body = json!({"user_id": user_id, "items": [
                        {"sku": format!("SKU-{worker}"), "quantity": n % 7 + 1, "unit_price": 100 + n},
                        {"sku": "EXTRA", "quantity": 1, "unit_price": worker},
                    ]})
                    .to_string();
                    let acknowledged = match api.try_post_with_key(ORDERS, &key, &body).await {
                        Ok(resp) if resp.status() == 201 => {
                            resp.json::<Value>().await.ok().and_then(|o| o["id"].as_i64())
                        }
                        _ => None,
                    };
                    attempts.lock().unwrap().push(Attempt { key, body, acknowledged });
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.signal("KILL");
    assert_eq!(
        app.exit_code(Duration::from_secs(5)).await,
        None,
        "killed by a signal"
    );
    let attempts = stop_load(&stop, workers, attempts).await;
    let acknowledged: Vec<(&str, i64)> = attempts
        .iter()
        .filter_map(|a| Some((a.key.as_str(), a.acknowledged?)))
        .collect();
    assert!(
        acknowledged.len() >= 20,
        "too little load before the kill: {}",
        acknowledged.len()
    );
    app.restart().await;

    let db = &app.db_pool;
    let scalar = |sql: &'static str| async move { db.scalar(sql).await };
    db.assert_every_order_whole().await;
    // Each order was made under one key, and each stored key made one order.
    let orders_before_retry = scalar("SELECT COUNT(*) FROM orders").await;
    assert_eq!(
        orders_before_retry,
        scalar("SELECT COUNT(*) FROM orderly_idempotency_keys").await
    );
    for (key, id) in &acknowledged {
        let found = db
            .scalar(&format!("SELECT COUNT(*) FROM orders WHERE id = {id}"))
            .await;
        assert_eq!(
            found, 1,
            "order {id} of key {key} was acknowledged, then lost"
        );
    }

    // Every key, acknowledged or cut off, resolves to one order, at once.
    let mut resolved: HashMap<&str, i64> = HashMap::new();
    for attempt in &attempts {
        let first = app.post_with_key(ORDERS, &attempt.key, &attempt.body).await;
        assert_eq!(first.status(), 201, "key {} after the restart", attempt.key);
        let id = first.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        if let Some(acked) = attempt.acknowledged {
            assert_eq!(id, acked, "key {} now names another order", attempt.key);
        }
        let again = app.post_with_key(ORDERS, &attempt.key, &attempt.body).await;
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(
            again.json::<Value>().await.unwrap()["id"].as_i64(),
            Some(id)
        );
        resolved.insert(&attempt.key, id);
    }
    let orders = scalar("SELECT COUNT(*) FROM orders").await;
    assert_eq!(
        orders as usize,
        attempts.len(),
        "one order per key, no more"
    );
    assert_eq!(
        scalar("SELECT COUNT(*) FROM orderly_idempotency_keys").await,
        orders
    );
    println!(
        "crash: {} keys sent, {} acknowledged before SIGKILL, {} orders before the retries, {} after",
        attempts.len(),
        acknowledged.len(),
        orders_before_retry,
        orders
    );
}
