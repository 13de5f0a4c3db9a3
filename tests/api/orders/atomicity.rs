//! An order and its items are written all or nothing. The failure comes
//! from outside the app: a trigger the test installs on its own database
//! refuses every item.

use serde_json::json;

use super::ORDERS;
use crate::helpers::{assert_problem, one_item, TestApp};

async fn a_failure_between_order_and_items_leaves_nothing_and_the_service_serves(app: TestApp) {
    let body = json!({"user_id": app.a_user().await, "items": one_item()}).to_string();
    app.db_pool.fail_inserts_into("order_items").await;

    let plain = app
        .client
        .post(app.url(ORDERS))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let problem = assert_problem(plain, 500, "items refused").await;
    assert!(
        !problem.to_string().contains("injected"),
        "5xx hides its cause: {problem}"
    );
    assert_problem(
        app.post_with_key(ORDERS, "k-1", &body).await,
        500,
        "items refused, with a key",
    )
    .await;

    assert_eq!(app.db_pool.count("orders").await, 0);
    assert_eq!(app.db_pool.count("order_items").await, 0);
    assert_eq!(app.db_pool.count("orderly_idempotency_keys").await, 0);
    assert_eq!(app.get("/readyz").await.status(), 200);

    // Nothing was stored under the key, so once items go through again a
    // retry executes: one order, with its item.
    app.db_pool.stop_failing_inserts_into("order_items").await;
    let retry = app.post_with_key(ORDERS, "k-1", &body).await;
    assert_eq!(retry.status(), 201);
    assert!(!retry.headers().contains_key("idempotent-replayed"));
    assert_eq!(app.db_pool.count("orders").await, 1);
    assert_eq!(app.db_pool.count("order_items").await, 1);
}

crate::on_both_backends!(a_failure_between_order_and_items_leaves_nothing_and_the_service_serves);
