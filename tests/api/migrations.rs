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

/// What release 4 left: its history under the name every release before
/// 5 gave it, `schema_migrations`, which another service may use too.
async fn a_version_4_database(db: &DbPool, rename_history: &str) {
    db.migrate_to(4).await;
    db.execute(rename_history).await;
    db.execute("INSERT INTO users (email, name) VALUES ('ada@example.com', 'Ada')")
        .await;
}

async fn the_history_moves_to_orderly_migrations_and_the_bookkeeping_tables_take_orderlys_name(
    app: TestApp,
    tables_named: &str,
) {
    assert_eq!(
        app.db_pool.text(tables_named).await,
        "order_items,orderly_api_keys,orderly_events,orderly_idempotency_keys,orderly_migrations,\
         orderly_webhook_deliveries,orderly_webhook_endpoints,orders,users"
    );
    assert_eq!(app.db_pool.count("orderly_migrations").await, 6);
    assert_eq!(
        app.get_json("/api/v1/users/1").await["email"],
        "ada@example.com"
    );
    app.assert_keyed_create_is_stored("upgrade-1").await;
}

mod postgres {
    use super::*;
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_history_moves_to_orderly_migrations_and_the_bookkeeping_tables_take_orderlys_name()
    {
        let app = TestApp::spawn_prepared(
            Backend::Postgres,
            async |db| {
                a_version_4_database(
                    db,
                    "ALTER TABLE orderly_migrations RENAME TO schema_migrations;
                     ALTER TABLE schema_migrations RENAME CONSTRAINT orderly_migrations_pkey TO schema_migrations_pkey",
                )
                .await
            },
            |_| {},
        )
        .await;
        super::the_history_moves_to_orderly_migrations_and_the_bookkeeping_tables_take_orderlys_name(
            app,
            "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class
             WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'",
        )
        .await;
    }

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
    async fn the_history_moves_to_orderly_migrations_and_the_bookkeeping_tables_take_orderlys_name()
    {
        let app = TestApp::spawn_prepared(
            Backend::Sqlite,
            async |db| {
                a_version_4_database(
                    db,
                    "ALTER TABLE orderly_migrations RENAME TO schema_migrations",
                )
                .await
            },
            |_| {},
        )
        .await;
        super::the_history_moves_to_orderly_migrations_and_the_bookkeeping_tables_take_orderlys_name(
            app,
            "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master
             WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name)",
        )
        .await;
    }

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
