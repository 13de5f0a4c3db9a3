//! Upgrading a database an older release left behind: migration 3 names
//! every constraint and makes the order's foreign key to its user
//! immediate, keeping every row (and, on SQLite, which rebuilds its
//! tables, the ids already handed out).

use serde_json::json;

use crate::helpers::{DbPool, Refused, TestApp};

/// What release 2 left: two users (a third was deleted), an order with an
/// item. Plain SQL both dialects read alike.
async fn a_version_2_database(db: &DbPool) {
    db.migrate_to(2).await;
    db.execute(
        "INSERT INTO users (email, name) VALUES
             ('ada@example.com', 'Ada'), ('bob@example.com', 'Bob'), ('eve@example.com', 'Eve');
         DELETE FROM users WHERE id = 3;
         INSERT INTO orders (user_id, total) VALUES (2, 500);
         INSERT INTO order_items (order_id, line, sku, quantity, unit_price)
             VALUES (1, 0, 'BOOK-1', 1, 500);",
    )
    .await;
}

async fn upgraded_databases_keep_their_rows_and_check_the_order_user_at_once(app: TestApp) {
    assert_eq!(app.db_pool.count("users").await, 2);
    let order = app.get_json("/api/v1/orders/1").await;
    assert_eq!(order["user_id"], 2);
    assert_eq!(
        order["items"],
        json!([{"sku": "BOOK-1", "quantity": 1, "unit_price": 500}])
    );
    let next = app.create_user("new@example.com", "New").await;
    assert!(
        next["id"].as_i64().unwrap() > 3,
        "the deleted user's id is not handed out again: {next}"
    );
    assert_eq!(
        app.db_pool
            .in_abandoned_transaction("INSERT INTO orders (user_id, total) VALUES (987654, 1)")
            .await,
        Err(Refused::ForeignKeyViolation)
    );
    let has_orders = app.delete("/api/v1/users/2").await;
    assert_eq!(has_orders.status(), 409);
}

mod postgres {
    use super::*;
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upgraded_databases_keep_their_rows_and_check_the_order_user_at_once() {
        let app = TestApp::spawn_prepared(
            Backend::Postgres,
            async |db| a_version_2_database(db).await,
            |_| {},
        )
        .await;
        super::upgraded_databases_keep_their_rows_and_check_the_order_user_at_once(app).await;
    }
}

mod sqlite {
    use super::*;
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upgraded_databases_keep_their_rows_and_check_the_order_user_at_once() {
        let app = TestApp::spawn_prepared(
            Backend::Sqlite,
            async |db| a_version_2_database(db).await,
            |_| {},
        )
        .await;
        super::upgraded_databases_keep_their_rows_and_check_the_order_user_at_once(app).await;
    }
}
