//! One key under concurrency: exactly one execution, and a repeat while
//! the first is still running is 409 at once, on both backends.

use std::pin::Pin;
use std::time::Duration;

use futures::future::{select, Either};
use serde_json::json;

use super::{Answer, ORDERS, USERS};
use crate::helpers::{assert_problem, TestApp};

async fn twenty_concurrent_orders_with_one_key_create_one_order(app: TestApp) {
    let user_id = app.create_user("buyer@example.com", "Buyer").await["id"].clone();
    let body = json!({"user_id": user_id, "items": [{"sku": "A", "quantity": 1, "unit_price": 5}]})
        .to_string();

    let requests = (0..20).map(|_| app.post_with_key(ORDERS, "one-key", &body));
    let responses = futures::future::join_all(requests).await;
    let mut created = Vec::new();
    let mut in_flight = 0;
    for resp in responses {
        match resp.status().as_u16() {
            201 => created.push(Answer::of(resp).await),
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
        created.iter().filter(|c| c.replayed).count(),
        app.db_pool.count("orders").await
    );
    assert_eq!(app.db_pool.count("orders").await, 1);
    assert_eq!(
        created.iter().filter(|c| !c.replayed).count(),
        1,
        "exactly one executed"
    );
    assert!(
        created.iter().all(|c| c.json() == created[0].json()),
        "every 201 is the original"
    );
}

/// Sends two requests with one key while the test holds the write lock
/// their work needs: whichever claims the key first waits on the lock,
/// and the other must be answered at once. Returns that answer and the
/// request still waiting.
async fn race_two<'a>(
    first: impl std::future::Future<Output = reqwest::Response> + 'a,
    second: impl std::future::Future<Output = reqwest::Response> + 'a,
) -> (
    reqwest::Response,
    Pin<Box<dyn std::future::Future<Output = reqwest::Response> + 'a>>,
) {
    let first: Pin<Box<dyn std::future::Future<Output = reqwest::Response> + 'a>> = Box::pin(first);
    let second: Pin<Box<dyn std::future::Future<Output = reqwest::Response> + 'a>> =
        Box::pin(second);
    let raced = tokio::time::timeout(Duration::from_secs(3), select(first, second))
        .await
        .expect("one of the two is answered while the other runs");
    match raced {
        Either::Left((answered, waiting)) | Either::Right((answered, waiting)) => {
            (answered, waiting)
        }
    }
}

async fn a_repeat_while_the_first_runs_is_409_at_once_and_the_first_completes(app: TestApp) {
    let body = r#"{"email": "ada@example.com", "name": "Ada"}"#;
    let lock = app.db_pool.hold_write_lock().await;

    let (answered, waiting) = race_two(
        app.post_with_key(USERS, "slow", body),
        app.post_with_key(USERS, "slow", body),
    )
    .await;

    assert_eq!(answered.headers()["retry-after"], "1");
    assert_problem(answered, 409, "a repeat in flight").await;
    lock.release().await;
    let first = Answer::of(waiting.await).await;
    assert_eq!((first.status, first.replayed), (201, false));
    let later = Answer::of(app.post_with_key(USERS, "slow", body).await).await;
    assert_eq!((later.status, later.replayed), (201, true));
    assert_eq!(later.body, first.body);
    assert_eq!(app.db_pool.count("users").await, 1);
}

crate::on_both_backends!(
    twenty_concurrent_orders_with_one_key_create_one_order,
    a_repeat_while_the_first_runs_is_409_at_once_and_the_first_completes,
);

/// PostgreSQL only: two instances of the service on one database (SQLite
/// is one process's embedded database), and a claim bypassed from outside
/// (on SQLite the single writer's lock leaves no way around it).
mod postgres_only {
    use super::*;
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_repeat_through_another_instance_is_409_while_the_first_runs() {
        let app = TestApp::spawn(Backend::Postgres).await;
        let other = app.another_instance().await;
        let body = r#"{"email": "ada@example.com", "name": "Ada"}"#;
        let through_other = app
            .client
            .post(other.url(USERS))
            .header("content-type", "application/json")
            .header("idempotency-key", "slow")
            .body(body)
            .send();
        let lock = app.db_pool.hold_write_lock().await;

        let (answered, waiting) = race_two(app.post_with_key(USERS, "slow", body), async {
            through_other.await.expect("request sent")
        })
        .await;

        assert_problem(answered, 409, "a repeat in flight in another instance").await;
        lock.release().await;
        assert_eq!(waiting.await.status(), 201);
        assert_eq!(app.db_pool.count("users").await, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_response_stored_meanwhile_from_outside_wins_and_the_work_is_undone() {
        let app = TestApp::spawn(Backend::Postgres).await;
        let lock = app.db_pool.hold_write_lock().await;
        let body = r#"{"email": "ada@example.com", "name": "Ada"}"#;
        let request = tokio::spawn({
            let url = app.url(USERS);
            let client = app.client.clone();
            async move {
                client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("idempotency-key", "bypassed")
                    .body(body)
                    .send()
                    .await
                    .expect("request sent")
            }
        });
        // The request has claimed its key once its insert waits on the
        // test's lock (`users` names this test's own table).
        while app
            .db_pool
            .scalar(
                "SELECT COUNT(*) FROM pg_locks WHERE relation = 'users'::regclass AND NOT granted",
            )
            .await
            == 0
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        app.db_pool
            .execute(
                "INSERT INTO orderly_idempotency_keys
                     (scope, key, fingerprint, response_status, response_headers, response_body)
                 VALUES ('POST /api/v1/users', 'bypassed', '\\x00', 201, '[]', '\\x00')",
            )
            .await;
        lock.release().await;

        assert_problem(
            request.await.unwrap(),
            409,
            "a stored response appeared meanwhile",
        )
        .await;
        assert_eq!(app.db_pool.count("users").await, 0, "the work was undone");
    }
}
