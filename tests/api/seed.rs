//! The seed's three tests (`000_b963f387260688d5.txt`), ported: the user
//! lifecycle over HTTP, concurrent inserts of one e-mail at the database,
//! and a transaction that fails midway.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{Refused, TestApp};

async fn user_lifecycle_create_read_update_delete(app: TestApp) {
    // Create
    let create = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "lifecycle@example.com", "name": "Lifecycle User"}),
        )
        .await;
    assert_eq!(create.status(), 201);
    let user_id = create.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/users/{user_id}");

    // Read
    let get = app.get(&path).await;
    assert_eq!(get.status(), 200);
    assert_eq!(
        get.json::<Value>().await.unwrap()["email"],
        "lifecycle@example.com"
    );

    // Update
    let update = app
        .send_json(Method::PUT, &path, &json!({"name": "Updated Name"}), None)
        .await;
    assert_eq!(update.status(), 200);
    assert_eq!(
        update.json::<Value>().await.unwrap()["name"],
        "Updated Name"
    );

    // Delete
    assert_eq!(app.delete(&path).await.status(), 204);

    // Verify deleted
    assert_eq!(app.get(&path).await.status(), 404);
}

/// Inserts `email` from `racers` concurrent connections with the seed's
/// plain SQL; returns how many inserts succeeded.
async fn race_inserts(app: &TestApp, email: &str, racers: usize) -> usize {
    let attempts = (0..racers).map(|i| {
        // Mixed letter case: uniqueness is case-insensitive.
        let email = if i % 2 == 0 {
            email.to_owned()
        } else {
            email.to_uppercase()
        };
        async move {
            match app.db_pool.insert_user(&email, "Test").await {
                Ok(id) => Some(id),
                Err(Refused::UniqueViolation) => None,
                Err(other) => panic!("an insert failed other than by the unique index: {other:?}"),
            }
        }
    });
    futures::future::join_all(attempts)
        .await
        .into_iter()
        .flatten()
        .count()
}

async fn concurrent_inserts_of_one_email_let_exactly_one_succeed(app: TestApp) {
    assert_eq!(race_inserts(&app, "concurrent@example.com", 2).await, 1);
    assert_eq!(race_inserts(&app, "crowd@example.com", 40).await, 1);
    assert_eq!(app.db_pool.count("users").await, 2);
}

async fn a_transaction_failing_midway_leaves_no_row(app: TestApp) {
    let initial = app.db_pool.count("orders").await;
    let user_id = app.a_user().await;
    let insert = format!("INSERT INTO orders (user_id, total) VALUES ({user_id}, 100)");

    // Simulated failure: the transaction is abandoned without commit.
    assert_eq!(app.db_pool.in_abandoned_transaction(&insert).await, Ok(()));

    assert_eq!(app.db_pool.count("orders").await, initial);
    // And the same insert committed does land, so the count above can fail.
    app.db_pool.execute(&insert).await;
    assert_eq!(app.db_pool.count("orders").await, initial + 1);
}

crate::on_both_backends!(
    user_lifecycle_create_read_update_delete,
    concurrent_inserts_of_one_email_let_exactly_one_succeed,
    a_transaction_failing_midway_leaves_no_row,
);
