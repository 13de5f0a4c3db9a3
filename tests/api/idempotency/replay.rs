//! Repeats of a request with the same key: replayed, refused, or executed.

use reqwest::Method;
use serde_json::json;

use super::{Answer, ORDERS, USERS};
use crate::helpers::{assert_problem, TestApp};

async fn a_repeated_user_create_replays_the_stored_response(app: TestApp) {
    let body = r#"{"email": "ada@example.com", "name": "Ada"}"#;

    let first = Answer::of(app.post_with_key(USERS, "key-1", body).await).await;
    let second = Answer::of(app.post_with_key(USERS, "key-1", body).await).await;

    assert_eq!((first.status, first.replayed), (201, false));
    assert_eq!((second.status, second.replayed), (201, true));
    assert_eq!(
        (&first.location, &first.etag, &first.body),
        (&second.location, &second.etag, &second.body),
        "same Location, ETag and body, byte for byte"
    );
    assert_eq!(app.db_pool.count("users").await, 1);
}

async fn a_repeated_order_create_replays_and_creates_one_order(app: TestApp) {
    let user_id = app.create_user("buyer@example.com", "Buyer").await["id"].clone();
    let body = json!({"user_id": user_id, "items": [{"sku": "A", "quantity": 2, "unit_price": 5}]})
        .to_string();

    let first = Answer::of(app.post_with_key(ORDERS, "order-1", &body).await).await;
    let second = Answer::of(app.post_with_key(ORDERS, "order-1", &body).await).await;

    assert_eq!(
        (first.status, first.replayed, second.status, second.replayed),
        (201, false, 201, true)
    );
    assert_eq!(first.body, second.body, "byte for byte");
    assert_eq!(first.location, second.location);
    assert_eq!(app.db_pool.count("orders").await, 1);
    assert_eq!(app.db_pool.count("order_items").await, 1);
}

async fn the_same_key_with_another_body_is_422_and_executes_nothing(app: TestApp) {
    app.post_with_key(
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
        assert_problem(app.post_with_key(USERS, "key-1", body).await, 422, case).await;
    }
    assert_eq!(app.db_pool.count("users").await, 1);
}

async fn a_replay_returns_the_stored_response_even_after_the_resource_changed(app: TestApp) {
    let body = r#"{"email": "ada@example.com", "name": "Ada"}"#;
    let first = Answer::of(app.post_with_key(USERS, "key-1", body).await).await;
    let put = app
        .send_json(
            Method::PUT,
            &first.location,
            &json!({"name": "Changed"}),
            None,
        )
        .await;
    assert_eq!(put.status(), 200);

    let replay = Answer::of(app.post_with_key(USERS, "key-1", body).await).await;

    assert!(replay.replayed);
    assert_eq!(replay.json()["name"], "Ada");
}

async fn keys_are_per_route(app: TestApp) {
    let user = Answer::of(
        app.post_with_key(
            USERS,
            "shared",
            r#"{"email": "a@example.com", "name": "A"}"#,
        )
        .await,
    )
    .await;
    let order_body =
        json!({"user_id": user.json()["id"], "items": [{"sku": "A", "quantity": 1, "unit_price": 1}]})
            .to_string();
    let order = Answer::of(app.post_with_key(ORDERS, "shared", &order_body).await).await;
    assert_eq!((order.status, order.replayed), (201, false));
}

async fn malformed_keys_are_400_and_execute_nothing(app: TestApp) {
    let body = r#"{"email": "ada@example.com", "name": "Ada"}"#;
    for (case, key) in [
        ("empty", String::new()),
        ("256 characters", "k".repeat(256)),
        ("tab", "a\tb".into()),
    ] {
        assert_problem(app.post_with_key(USERS, &key, body).await, 400, case).await;
    }
    assert_eq!(app.db_pool.count("users").await, 0);
    let longest = app.post_with_key(USERS, &"k".repeat(255), body).await;
    assert_eq!(longest.status(), 201, "255 characters is fine");
}

async fn a_failed_request_stores_nothing_so_a_retry_executes(app: TestApp) {
    let taken = app.create_user("taken@example.com", "Taken").await;
    let body = r#"{"email": "taken@example.com", "name": "X"}"#;
    assert_problem(
        app.post_with_key(USERS, "key-1", body).await,
        409,
        "email taken",
    )
    .await;
    assert_eq!(app.db_pool.count("orderly_idempotency_keys").await, 0);
    app.delete(&format!("{USERS}/{}", taken["id"])).await;
    // At once: the failed request's claim is over when it answers.
    let retry = Answer::of(app.post_with_key(USERS, "key-1", body).await).await;
    assert_eq!((retry.status, retry.replayed), (201, false));

    let body = r#"{"user_id": 424242, "items": [{"sku": "A", "quantity": 1, "unit_price": 1}]}"#;
    assert_problem(
        app.post_with_key(ORDERS, "key-2", body).await,
        422,
        "unknown user",
    )
    .await;
    assert_eq!(app.db_pool.count("orderly_idempotency_keys").await, 1);
    app.db_pool
        .execute("INSERT INTO users (id, email, name) VALUES (424242, 'late@example.com', 'Late')")
        .await;
    let retry = Answer::of(app.post_with_key(ORDERS, "key-2", body).await).await;
    assert_eq!((retry.status, retry.replayed), (201, false));
}

async fn a_stored_response_whose_headers_cannot_be_read_is_an_error_not_a_bare_replay(
    app: TestApp,
) {
    let body = r#"{"email": "ada@example.com", "name": "Ada"}"#;
    let first = Answer::of(app.post_with_key(USERS, "key-1", body).await).await;
    assert_eq!(first.status, 201);
    app.db_pool
        .execute("UPDATE orderly_idempotency_keys SET response_headers = 'not JSON'")
        .await;

    let repeat = app.post_with_key(USERS, "key-1", body).await;

    assert!(
        repeat.headers().get("location").is_none(),
        "no replay without its headers"
    );
    assert_problem(repeat, 500, "stored headers unreadable").await;
    assert_eq!(
        app.db_pool.count("users").await,
        1,
        "nothing executed again"
    );
}

crate::on_both_backends!(
    a_stored_response_whose_headers_cannot_be_read_is_an_error_not_a_bare_replay,
    a_repeated_user_create_replays_the_stored_response,
    a_repeated_order_create_replays_and_creates_one_order,
    the_same_key_with_another_body_is_422_and_executes_nothing,
    a_replay_returns_the_stored_response_even_after_the_resource_changed,
    keys_are_per_route,
    malformed_keys_are_400_and_execute_nothing,
    a_failed_request_stores_nothing_so_a_retry_executes,
);
