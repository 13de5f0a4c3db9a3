//! `Idempotency-Key` on both POSTs: every row of API.md's Idempotency section.

use std::time::Duration;

use serde_json::{json, Value};

use orderly::config::Settings;

use crate::helpers::{assert_problem, TestApp};

const USERS: &str = "/api/v1/users";
const ORDERS: &str = "/api/v1/orders";

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// Status, `Idempotent-Replayed`, `Location`, `ETag` and body of a response.
async fn parts(resp: reqwest::Response) -> (u16, bool, String, String, Value) {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (status, replayed) = (
        resp.status().as_u16(),
        header("idempotent-replayed") == "true",
    );
    let (location, etag) = (header("location"), header("etag"));
    (status, replayed, location, etag, resp.json().await.unwrap())
}

async fn a_repeated_user_create_replays_the_stored_response(app: TestApp) {
    let body = r#"{"email": "ada@example.com", "name": "Ada"}"#;

    let first = parts(post_with_key(&app, USERS, "key-1", body).await).await;
    let second = parts(post_with_key(&app, USERS, "key-1", body).await).await;

    assert_eq!((first.0, first.1), (201, false));
    assert_eq!((second.0, second.1), (201, true));
    assert_eq!(
        (&first.2, &first.3, &first.4),
        (&second.2, &second.3, &second.4),
        "same Location, ETag and body"
    );
    assert_eq!(app.count("users").await, 1);
}

async fn a_repeated_order_create_replays_and_creates_one_order(app: TestApp) {
    let user_id = app.create_user("buyer@example.com", "Buyer").await["id"].clone();
    let body = json!({"user_id": user_id, "items": [{"sku": "A", "quantity": 2, "unit_price": 5}]})
        .to_string();

    let first = parts(post_with_key(&app, ORDERS, "order-1", &body).await).await;
    let second = parts(post_with_key(&app, ORDERS, "order-1", &body).await).await;

    assert_eq!(
        (first.0, first.1, second.0, second.1),
        (201, false, 201, true)
    );
    assert_eq!(first.4, second.4);
    assert_eq!(first.2, second.2);
    assert_eq!(app.count("orders").await, 1);
    assert_eq!(app.count("order_items").await, 1);
}

async fn the_same_key_with_another_body_is_422_and_executes_nothing(app: TestApp) {
    post_with_key(
        &app,
        USERS,
        "key-1",
        r#"{"email": "ada@example.com", "name": "Ada"}"#,
    )
    .await;

    for (case, body) in [
        (
            "other values",
            r#"{"email": "bob@example.com", "name": "Bob"}"#,
        ),
        (
            "same JSON, other bytes",
            r#"{"email":"ada@example.com","name":"Ada"}"#,
        ),
    ] {
        assert_problem(post_with_key(&app, USERS, "key-1", body).await, 422, case).await;
    }
    assert_eq!(app.count("users").await, 1);
}

async fn a_replay_returns_the_stored_response_even_after_the_resource_changed(app: TestApp) {
    let body = r#"{"email": "ada@example.com", "name": "Ada"}"#;
    let first = parts(post_with_key(&app, USERS, "key-1", body).await).await;
    let put = app
        .client
        .put(app.url(&first.2))
        .json(&json!({"name": "Changed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);

    let replay = parts(post_with_key(&app, USERS, "key-1", body).await).await;

    assert!(replay.1);
    assert_eq!(replay.4["name"], "Ada");
}

async fn keys_are_per_route(app: TestApp) {
    let user = parts(
        post_with_key(
            &app,
            USERS,
            "shared",
            r#"{"email": "a@example.com", "name": "A"}"#,
        )
        .await,
    )
    .await;
    let order_body =
        json!({"user_id": user.4["id"], "items": [{"sku": "A", "quantity": 1, "unit_price": 1}]})
            .to_string();
    let order = parts(post_with_key(&app, ORDERS, "shared", &order_body).await).await;
    assert_eq!((order.0, order.1), (201, false));
}

async fn malformed_keys_are_400_and_execute_nothing(app: TestApp) {
    let body = r#"{"email": "ada@example.com", "name": "Ada"}"#;
    for (case, key) in [
        ("empty", String::new()),
        ("256 characters", "k".repeat(256)),
        ("tab", "a\tb".into()),
    ] {
        assert_problem(post_with_key(&app, USERS, &key, body).await, 400, case).await;
    }
    assert_eq!(app.count("users").await, 0);
    let longest = post_with_key(&app, USERS, &"k".repeat(255), body).await;
    assert_eq!(longest.status(), 201, "255 characters is fine");
}

async fn a_failed_request_stores_nothing_so_a_retry_executes(app: TestApp) {
    app.create_user("taken@example.com", "Taken").await;
    let taken = r#"{"email": "taken@example.com", "name": "X"}"#;
    assert_problem(
        post_with_key(&app, USERS, "key-1", taken).await,
        409,
        "email taken",
    )
    .await;
    assert_eq!(app.count("idempotency_keys").await, 0);

    let body = r#"{"user_id": 424242, "items": [{"sku": "A", "quantity": 1, "unit_price": 1}]}"#;
    assert_problem(
        post_with_key(&app, ORDERS, "key-2", body).await,
        422,
        "unknown user",
    )
    .await;
    assert_eq!(app.count("idempotency_keys").await, 0);
}

async fn an_expired_key_executes_again(app: TestApp) {
    let body = r#"{"email": "ada@example.com", "name": "Ada"}"#;
    let first = parts(post_with_key(&app, USERS, "key-1", body).await).await;
    app.client.delete(app.url(&first.2)).send().await.unwrap();
    app.age_idempotency_keys().await;

    let again = parts(post_with_key(&app, USERS, "key-1", body).await).await;

    assert_eq!(
        (again.0, again.1),
        (201, false),
        "a key older than 24 hours is not replayed"
    );
    assert_ne!(again.4["id"], first.4["id"]);
    assert_eq!(app.count("idempotency_keys").await, 1);
}

async fn twenty_concurrent_orders_with_one_key_create_one_order(app: TestApp) {
    let user_id = app.create_user("buyer@example.com", "Buyer").await["id"].clone();
    let body = json!({"user_id": user_id, "items": [{"sku": "A", "quantity": 1, "unit_price": 5}]})
        .to_string();

    let requests = (0..20).map(|_| post_with_key(&app, ORDERS, "one-key", &body));
    let responses = futures::future::join_all(requests).await;
    let mut created = Vec::new();
    let mut in_flight = 0;
    for resp in responses {
        match resp.status().as_u16() {
            201 => created.push(parts(resp).await),
            409 => {
                assert!(resp.headers().contains_key("retry-after"));
                assert_problem(resp, 409, "in flight").await;
                in_flight += 1;
            }
            other => panic!("only 201 or 409 may answer, got {other}"),
        }
    }

    println!(
        "20 concurrent POSTs, one key: {} x 201 ({} replayed), {in_flight} x 409, orders: {}",
        created.len(),
        created.iter().filter(|c| c.1).count(),
        app.count("orders").await
    );
    assert_eq!(app.count("orders").await, 1);
    assert_eq!(
        created.iter().filter(|c| !c.1).count(),
        1,
        "exactly one executed"
    );
    assert!(
        created.iter().all(|c| c.4 == created[0].4),
        "every 201 is the original"
    );
}

fn purge_every_50_ms(settings: &mut Settings) {
    settings.key_purge_interval_ms = 50;
}

async fn expired_keys_are_purged_in_the_background(app: TestApp) {
    post_with_key(
        &app,
        USERS,
        "old",
        r#"{"email": "old@example.com", "name": "Old"}"#,
    )
    .await;
    app.age_idempotency_keys().await;
    post_with_key(
        &app,
        USERS,
        "new",
        r#"{"email": "new@example.com", "name": "New"}"#,
    )
    .await;

    for _ in 0..100 {
        if app.count("idempotency_keys").await == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the expired key was never purged (keys: {})",
        app.count("idempotency_keys").await
    );
}

crate::on_both_backends!(
    a_repeated_user_create_replays_the_stored_response,
    a_repeated_order_create_replays_and_creates_one_order,
    the_same_key_with_another_body_is_422_and_executes_nothing,
    a_replay_returns_the_stored_response_even_after_the_resource_changed,
    keys_are_per_route,
    malformed_keys_are_400_and_execute_nothing,
    a_failed_request_stores_nothing_so_a_retry_executes,
    an_expired_key_executes_again,
    twenty_concurrent_orders_with_one_key_create_one_order,
    expired_keys_are_purged_in_the_background => purge_every_50_ms,
);
