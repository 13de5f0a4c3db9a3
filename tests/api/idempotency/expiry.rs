//! Keys live 24 hours: an expired key executes afresh, and expired rows are
//! purged in the background.

use std::time::Duration;

use orderly::config::Settings;

use super::{Answer, USERS};
use crate::helpers::TestApp;

async fn an_expired_key_executes_again(app: TestApp) {
    let body = r#"{"email": "ada@example.com", "name": "Ada"}"#;
    let first = Answer::of(app.post_with_key(USERS, "key-1", body).await).await;
    app.delete(&first.location).await;
    app.db_pool.age_idempotency_keys().await;

    let again = Answer::of(app.post_with_key(USERS, "key-1", body).await).await;

    assert_eq!(
        (again.status, again.replayed),
        (201, false),
        "a key older than 24 hours is not replayed"
    );
    assert_ne!(again.json()["id"], first.json()["id"]);
    assert_eq!(app.db_pool.count("orderly_idempotency_keys").await, 1);
}

fn purge_every_50_ms(settings: &mut Settings) {
    settings.key_purge_interval = std::time::Duration::from_millis(50);
}

async fn expired_keys_are_purged_in_the_background(app: TestApp) {
    app.post_with_key(
        USERS,
        "old",
        r#"{"email": "old@example.com", "name": "Old"}"#,
    )
    .await;
    app.db_pool.age_idempotency_keys().await;
    app.post_with_key(
        USERS,
        "new",
        r#"{"email": "new@example.com", "name": "New"}"#,
    )
    .await;

    for _ in 0..100 {
        if app.db_pool.count("orderly_idempotency_keys").await == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the expired key was never purged (keys: {})",
        app.db_pool.count("orderly_idempotency_keys").await
    );
}

crate::on_both_backends!(
    an_expired_key_executes_again,
    expired_keys_are_purged_in_the_background => purge_every_50_ms,
);
