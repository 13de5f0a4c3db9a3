//! `x-request-id`: taken from the client when sane, else made up; echoed
//! on every answer and named in the body of a 5xx.

use crate::helpers::{assert_problem, header, TestApp};

async fn get_with_id(app: &TestApp, id: &str) -> reqwest::Response {
    app.client
        .get(app.url("/healthz"))
        .header("x-request-id", id)
        .send()
        .await
        .unwrap()
}

fn is_uuid(id: &str) -> bool {
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    groups == [8, 4, 4, 4, 12] && id.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

async fn a_sane_client_id_is_echoed(app: TestApp) {
    let resp = get_with_id(&app, "client-req.42:a_b").await;
    assert_eq!(header(&resp, "x-request-id"), "client-req.42:a_b");
}

async fn a_missing_or_insane_id_is_replaced_by_a_new_one(app: TestApp) {
    let generated = header(&app.get("/healthz").await, "x-request-id");
    assert!(is_uuid(&generated), "{generated}");
    let again = header(&app.get("/healthz").await, "x-request-id");
    assert_ne!(generated, again, "each request gets its own id");

    for insane in ["two words", "quote\"d", &"x".repeat(129), "semi;colon"] {
        let echoed = header(&get_with_id(&app, insane).await, "x-request-id");
        assert!(is_uuid(&echoed), "{insane:?} came back as {echoed:?}");
    }
}

async fn every_answer_carries_an_id(app: TestApp) {
    let answers = [
        app.get("/api/v1/users/1").await,
        app.get("/nowhere").await,
        app.post_json("/api/v1/users", &serde_json::json!({})).await,
        app.client
            .delete(app.url("/api/v1/orders/1"))
            .send()
            .await
            .unwrap(),
    ];
    for resp in answers {
        let status = resp.status();
        assert!(
            is_uuid(&header(&resp, "x-request-id")),
            "a {status} has no id"
        );
    }
}

async fn a_server_error_names_its_request_id(app: TestApp) {
    // A failure the service cannot explain: the database refuses the write.
    app.db_pool.fail_inserts_into("users").await;
    let resp = app
        .client
        .post(app.url("/api/v1/users"))
        .header("x-request-id", "report-me-123")
        .json(&serde_json::json!({"email": "ada@example.com", "name": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&resp, "x-request-id"), "report-me-123");
    let problem = assert_problem(resp, 500, "injected failure").await;
    assert_eq!(problem["request_id"], "report-me-123", "{problem}");

    // A client error needs no report: its body stays as documented.
    let missing = assert_problem(app.get("/api/v1/users/424242").await, 404, "404").await;
    assert!(missing.get("request_id").is_none(), "{missing}");
}

crate::on_both_backends!(
    a_sane_client_id_is_echoed,
    a_missing_or_insane_id_is_replaced_by_a_new_one,
    every_answer_carries_an_id,
    a_server_error_names_its_request_id,
);
