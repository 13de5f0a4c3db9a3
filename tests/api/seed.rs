//! The seed's three tests (`000_b963f387260688d5.txt`), ported: the user
//! lifecycle over HTTP, concurrent inserts of one e-mail at the database,
//! and a transaction that fails midway.

use serde_json::json;

use crate::helpers::{DbPool, TestApp};

async fn user_lifecycle_create_read_update_delete(app: TestApp) {
    // Create
    let create = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "lifecycle@example.com", "name": "Lifecycle User"}),
        )
        .await;
    assert_eq!(create.status(), 201);
    let user_id = create.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    // Read
    let get = app.get(&format!("/api/v1/users/{user_id}")).await;
    assert_eq!(get.status(), 200);
    assert_eq!(
        get.json::<serde_json::Value>().await.unwrap()["email"],
        "lifecycle@example.com"
    );

    // Update
    let update = app
        .client
        .put(app.url(&format!("/api/v1/users/{user_id}")))
        .json(&json!({"name": "Updated Name"}))
        .send()
        .await
        .unwrap();
    assert_eq!(update.status(), 200);
    assert_eq!(
        update.json::<serde_json::Value>().await.unwrap()["name"],
        "Updated Name"
    );

    // Delete
    let delete = app
        .client
        .delete(app.url(&format!("/api/v1/users/{user_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);

    // Verify deleted
    assert_eq!(
        app.get(&format!("/api/v1/users/{user_id}")).await.status(),
        404
    );
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
            match &app.db_pool {
                DbPool::Postgres(pool) => {
                    let conn = pool.get().await.expect("a connection");
                    match conn
                        .query_one(
                            "INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id",
                            &[&email, &"Test"],
                        )
                        .await
                    {
                        Ok(row) => Some(row.get::<_, i64>(0)),
                        Err(e)
                            if e.code()
                                == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
                        {
                            None
                        }
                        Err(e) => panic!("an insert failed other than by the unique index: {e}"),
                    }
                }
                DbPool::Sqlite(pool) => {
                    match sqlx::query_scalar::<_, i64>(
                        "INSERT INTO users (email, name) VALUES (?, ?) RETURNING id",
                    )
                    .bind(&email)
                    .bind("Test")
                    .fetch_one(pool)
                    .await
                    {
                        Ok(id) => Some(id),
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => None,
                        Err(e) => panic!("an insert failed other than by the unique index: {e}"),
                    }
                }
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
    assert_eq!(app.count("users").await, 2);
}

async fn a_transaction_failing_midway_leaves_no_row(app: TestApp) {
    let initial = app.count("orders").await;
    let user_id = app.create_user("buyer@example.com", "Buyer").await["id"]
        .as_i64()
        .unwrap();

    match &app.db_pool {
        DbPool::Postgres(pool) => {
            let mut conn = pool.get().await.unwrap();
            let tx = conn.transaction().await.unwrap();
            tx.execute(
                "INSERT INTO orders (user_id, total) VALUES ($1, $2)",
                &[&user_id, &100_i64],
            )
            .await
            .unwrap();
            // Simulated failure: the transaction is dropped without commit.
            drop(tx);
        }
        DbPool::Sqlite(pool) => {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("INSERT INTO orders (user_id, total) VALUES (?, ?)")
                .bind(user_id)
                .bind(100_i64)
                .execute(&mut *tx)
                .await
                .unwrap();
            drop(tx);
        }
    }

    assert_eq!(app.count("orders").await, initial);
    // And the same insert committed does land, so the count above can fail.
    app.execute(&format!(
        "INSERT INTO orders (user_id, total) VALUES ({user_id}, 100)"
    ))
    .await;
    assert_eq!(app.count("orders").await, initial + 1);
}

crate::on_both_backends!(
    user_lifecycle_create_read_update_delete,
    concurrent_inserts_of_one_email_let_exactly_one_succeed,
    a_transaction_failing_midway_leaves_no_row,
);
