//! Writes that wait together are committed together, each in a savepoint of
//! its own: a conflict, an unknown user, a stale ETag, or an order whose
//! second item the database refuses (after its order row and first item
//! were written) fails only its own request, leaving nothing of it, and
//! every neighbour in the batch is kept and acknowledged.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::{metric, until_writes_wait};
use crate::helpers::process::OrderlyProcess;
use crate::helpers::{Api, Backend};

const BATCHES: &str = "orderly_sqlite_commit_batch_size_count";
const BATCHED_WRITES: &str = "orderly_sqlite_commit_batch_size_sum";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_waiting_together_commit_in_one_batch_and_fail_only_alone() {
    let app = OrderlyProcess::start(Backend::Sqlite, &[]).await;
    let buyer = app.a_user().await;
    let stale = r#""not-the-current-version""#;
    // A fault from outside: the database refuses one SKU, so that order
    // fails at its second item, after two of its rows are written.
    app.db_pool
        .execute(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON order_items WHEN NEW.sku = 'BOOM'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )
        .await;
    let (batches, batched) = (
        metric(&app, BATCHES).await,
        metric(&app, BATCHED_WRITES).await,
    );

    // The test takes the write lock, so every write below queues behind
    // the writer's first one, which waits for the lock.
    let lock = app.db_pool.hold_write_lock().await;
    let mut requests = Vec::new();
    for n in 0..16 {
        let body = json!({"email": format!("fresh-{n}@example.com"), "name": "Fresh"});
        requests.push((
            "fresh user",
            send(&app, Method::POST, "/api/v1/users", body, None),
        ));
    }
    for _ in 0..8 {
        let body = json!({"email": "twin@example.com", "name": "Twin"});
        requests.push((
            "same e-mail",
            send(&app, Method::POST, "/api/v1/users", body, None),
        ));
    }
    for n in 0..8 {
        let items = json!([{"sku": format!("SKU-{n}"), "quantity": 2, "unit_price": 150}]);
        let body = json!({"user_id": buyer, "items": items});
        requests.push((
            "order",
            send(&app, Method::POST, "/api/v1/orders", body, None),
        ));
        let body = json!({"user_id": 999_999, "items": items});
        requests.push((
            "unknown user",
            send(&app, Method::POST, "/api/v1/orders", body, None),
        ));
    }
    let items = json!([{"sku": "FINE", "quantity": 1, "unit_price": 5}, {"sku": "BOOM", "quantity": 1, "unit_price": 5}]);
    let body = json!({"user_id": buyer, "items": items});
    requests.push((
        "refused midway",
        send(&app, Method::POST, "/api/v1/orders", body, None),
    ));
    for _ in 0..4 {
        let patch = json!({"name": "Stale"});
        let path = format!("/api/v1/users/{buyer}");
        requests.push((
            "stale ETag",
            send(&app, Method::PATCH, &path, patch, Some(stale)),
        ));
    }
    let sent = requests.len();
    let (kinds, responses): (Vec<_>, Vec<_>) = requests.into_iter().unzip();
    let answers = tokio::spawn(join_all(responses));
    // One write is in the writer's hands, waiting for the lock; the rest queue.
    until_writes_wait(&app, sent - 1).await;
    lock.release().await;
    let responses = answers.await.unwrap();

    let mut statuses: Vec<(&str, u16)> = Vec::new();
    for (kind, status) in kinds.iter().zip(responses) {
        statuses.push((kind, status.expect("the request's task")));
    }
    let count = |kind: &str, status: u16| {
        statuses
            .iter()
            .filter(|(k, s)| *k == kind && *s == status)
            .count()
    };
    assert_eq!(count("fresh user", 201), 16, "{statuses:?}");
    assert_eq!(count("same e-mail", 201), 1, "{statuses:?}");
    assert_eq!(count("same e-mail", 409), 7, "{statuses:?}");
    assert_eq!(count("order", 201), 8, "{statuses:?}");
    assert_eq!(count("unknown user", 422), 8, "{statuses:?}");
    assert_eq!(count("stale ETag", 412), 4, "{statuses:?}");
    assert_eq!(count("refused midway", 500), 1, "{statuses:?}");

    // Every acknowledged write is there, and nothing of a refused one.
    let db = &app.db_pool;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 1 + 16 + 1);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM orders").await, 8);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM order_items").await, 8);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM order_items WHERE sku = 'FINE'")
            .await,
        0
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM users WHERE name = 'Stale'")
            .await,
        0
    );
    db.assert_every_order_whole().await;

    // All of them in one commit: the 25 writes kept and the 4 that
    // changed nothing (the stale ETags) answered after it; the 16 refused
    // ones rolled back to their savepoints and answered at once.
    assert_eq!(metric(&app, BATCHES).await - batches, 1.0);
    assert_eq!(metric(&app, BATCHED_WRITES).await - batched, 29.0);
}

/// Sends a request now, on a task of its own; its status.
fn send(
    api: &Api,
    method: Method,
    path: &str,
    body: Value,
    if_match: Option<&str>,
) -> JoinHandle<u16> {
    let (api, path, if_match) = (api.clone(), path.to_owned(), if_match.map(str::to_owned));
    tokio::spawn(async move {
        let sent = api.send_json(method, &path, &body, if_match.as_deref());
        sent.await.status().as_u16()
    })
}
