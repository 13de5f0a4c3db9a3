//! A request that runs past the request timeout is answered 503 in
//! problem+json with `Retry-After`, like every other error. The test makes
//! the request slow from outside: it holds the lock the write needs.

use serde_json::json;

use orderly::config::Settings;

use crate::helpers::{assert_problem, header, TestApp};

fn time_out_after_300_ms(settings: &mut Settings) {
    settings.http.request_timeout = std::time::Duration::from_millis(300);
}

async fn a_request_past_the_timeout_is_503_problem_json_with_retry_after(app: TestApp) {
    let lock = app.db_pool.hold_write_lock().await;

    let resp = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "slow@example.com", "name": "Slow"}),
        )
        .await;

    assert_eq!(header(&resp, "retry-after"), "1");
    assert_problem(resp, 503, "past the request timeout").await;
    lock.release().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
}

crate::on_both_backends!(
    a_request_past_the_timeout_is_503_problem_json_with_retry_after => time_out_after_300_ms,
);
