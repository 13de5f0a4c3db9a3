//! Constraint names decide what a broken constraint means. The ones the
//! code knows exist in the schema under those names; one it does not know
//! (added here from outside, as a DBA might) is a 500 with its cause
//! logged, never a guessed 409.

use orderly::storage::Constraint;
use serde_json::json;

use crate::helpers::{assert_problem, Refused, TestApp};

async fn every_constraint_the_code_names_exists_in_the_schema(app: TestApp) {
    for constraint in Constraint::ALL {
        assert!(
            app.db_pool.has_constraint_named(constraint.name()).await,
            "no constraint or index named {}",
            constraint.name()
        );
    }
}

async fn an_unknown_unique_constraint_is_500_not_email_taken(app: TestApp) {
    app.db_pool
        .execute("CREATE UNIQUE INDEX users_name_added_by_a_dba ON users (name)")
        .await;
    app.create_user("ada@example.com", "Same Name").await;

    let resp = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "bob@example.com", "name": "Same Name"}),
        )
        .await;

    let problem = assert_problem(resp, 500, "a unique index the code does not know").await;
    assert!(!problem.to_string().contains("users_name"), "{problem}");
    assert_eq!(app.db_pool.count("users").await, 1);
}

async fn an_unknown_foreign_key_is_500_not_user_has_orders(app: TestApp) {
    let user = app.create_user("ada@example.com", "Ada").await;
    app.db_pool
        .execute(&format!(
            "CREATE TABLE audit (user_id BIGINT NOT NULL REFERENCES users (id));
             INSERT INTO audit (user_id) VALUES ({})",
            user["id"]
        ))
        .await;

    let resp = app.delete(&format!("/api/v1/users/{}", user["id"])).await;

    assert_problem(resp, 500, "a foreign key the code does not know").await;
    assert_eq!(app.db_pool.count("users").await, 1);
}

async fn an_order_for_an_unknown_user_fails_at_its_own_statement(app: TestApp) {
    let refused = app
        .db_pool
        .in_abandoned_transaction("INSERT INTO orders (user_id, total) VALUES (987654, 100)")
        .await;

    assert_eq!(
        refused,
        Err(Refused::ForeignKeyViolation),
        "the foreign key is checked at the INSERT, not at commit"
    );
}

crate::on_both_backends!(
    every_constraint_the_code_names_exists_in_the_schema,
    an_unknown_unique_constraint_is_500_not_email_taken,
    an_unknown_foreign_key_is_500_not_user_has_orders,
    an_order_for_an_unknown_user_fails_at_its_own_statement,
);
