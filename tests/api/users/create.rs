//! Creating and reading users: `POST /api/v1/users`, `GET /api/v1/users/{id}`.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, header, location_and_etag, TestApp};

async fn create_user_returns_201_with_location_etag_and_exact_keys(app: TestApp) {
    let resp = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "  Ada@Example.com ", "name": " Ada "}),
        )
        .await;

    assert_eq!(resp.status(), 201);
    let (location, etag) = location_and_etag(&resp);
    let user: Value = resp.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/users/{}", user["id"]));
    let mut keys: Vec<_> = user.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "email", "id", "name", "updated_at"]);
    assert_eq!(user["email"], "Ada@Example.com", "trimmed, case kept");
    assert_eq!(user["name"], "Ada");
    assert!(
        user["created_at"].as_str().unwrap().ends_with('Z'),
        "{user}"
    );
    let fetched = app.get(&location).await;
    assert_eq!(header(&fetched, "etag"), etag);
    assert_eq!(fetched.json::<Value>().await.unwrap(), user);
}

async fn create_user_returns_409_when_email_taken_in_other_case(app: TestApp) {
    app.create_user("ada@example.com", "Ada").await;

    let resp = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "ADA@example.COM", "name": "Other"}),
        )
        .await;

    assert_problem(resp, 409, "same address in other case").await;
    assert_eq!(app.db_pool.count("users").await, 1);
}

async fn racing_creates_of_one_email_give_one_201_and_409s_only(app: TestApp) {
    let app = &app;
    let requests = (0..50).map(|i| {
        let email = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@Example.Com"
        };
        let body = json!({"email": email, "name": format!("Racer {i}")});
        async move { app.post_json("/api/v1/users", &body).await }
    });
    let statuses: Vec<u16> = futures::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();

    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        49,
        "{statuses:?}"
    );
    assert_eq!(app.db_pool.count("users").await, 1);
}

async fn get_user_returns_404_for_an_unknown_id(app: TestApp) {
    assert_problem(app.get("/api/v1/users/424242").await, 404, "unknown id").await;
    assert_problem(app.get("/api/v1/users/0").await, 404, "id 0").await;
}

crate::on_both_backends!(
    create_user_returns_201_with_location_etag_and_exact_keys,
    create_user_returns_409_when_email_taken_in_other_case,
    racing_creates_of_one_email_give_one_201_and_409s_only,
    get_user_returns_404_for_an_unknown_id,
);
