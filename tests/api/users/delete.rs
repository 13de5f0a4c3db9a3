//! Deleting users: `DELETE /api/v1/users/{id}`.

use crate::helpers::{assert_problem, TestApp};

async fn delete_user_returns_204_then_404(app: TestApp) {
    let user = app.create_user("ada@example.com", "Ada").await;
    let path = format!("/api/v1/users/{}", user["id"]);

    let first = app.delete(&path).await;
    assert_eq!(first.status(), 204);
    assert!(first.bytes().await.unwrap().is_empty());
    assert_problem(app.delete(&path).await, 404, "second delete").await;
    assert_eq!(app.db_pool.count("users").await, 0);
}

async fn delete_user_who_has_orders_is_409_and_keeps_everything(app: TestApp) {
    let user = app.create_user("buyer@example.com", "Buyer").await;
    app.db_pool
        .execute(&format!(
            "INSERT INTO orders (user_id, total) VALUES ({}, 500)",
            user["id"]
        ))
        .await;

    let resp = app.delete(&format!("/api/v1/users/{}", user["id"])).await;

    assert_problem(resp, 409, "user with an order").await;
    assert_eq!(app.db_pool.count("users").await, 1);
    assert_eq!(app.db_pool.count("orders").await, 1);
}

crate::on_both_backends!(
    delete_user_returns_204_then_404,
    delete_user_who_has_orders_is_409_and_keeps_everything,
);
