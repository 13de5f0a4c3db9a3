//! Updating users: `PUT` and `PATCH /api/v1/users/{id}`, with `If-Match`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, header, location_and_etag, problem_fields, TestApp};

async fn put_and_patch_update_only_the_given_fields_and_bump_updated_at(app: TestApp) {
    let user = app.create_user("ada@example.com", "Ada").await;
    let path = format!("/api/v1/users/{}", user["id"]);

    let put = app
        .send_json(Method::PUT, &path, &json!({"name": "Ada L."}), None)
        .await;
    assert_eq!(put.status(), 200);
    let after_put: Value = put.json().await.unwrap();
    assert_eq!(after_put["name"], "Ada L.");
    assert_eq!(after_put["email"], "ada@example.com");
    assert_eq!(after_put["created_at"], user["created_at"]);
    assert!(
        after_put["updated_at"].as_str() > user["updated_at"].as_str(),
        "updated_at moves on"
    );

    let patch = app
        .send_json(
            Method::PATCH,
            &path,
            &json!({"email": "lovelace@example.com"}),
            None,
        )
        .await;
    assert_eq!(patch.status(), 200);
    let after_patch: Value = patch.json().await.unwrap();
    assert_eq!(after_patch["name"], "Ada L.");
    assert_eq!(after_patch["email"], "lovelace@example.com");
    assert_eq!(app.get_json(&path).await, after_patch);
}

/// Creates Ada; her `Location` and `ETag`.
async fn ada_and_her_etag(app: &TestApp) -> (String, String) {
    let created = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "ada@example.com", "name": "Ada"}),
        )
        .await;
    location_and_etag(&created)
}

async fn update_with_if_match_succeeds_on_the_current_etag_and_412s_on_any_other(app: TestApp) {
    let (path, etag) = ada_and_her_etag(&app).await;

    let ok = app
        .send_json(Method::PUT, &path, &json!({"name": "B"}), Some(&etag))
        .await;
    assert_eq!(ok.status(), 200);
    let new_etag = header(&ok, "etag");
    assert_ne!(new_etag, etag, "every write gets a new ETag");

    for stale in [etag.as_str(), "\"made-up\"", "W/\"v1\"", "garbage"] {
        let resp = app
            .send_json(Method::PATCH, &path, &json!({"name": "C"}), Some(stale))
            .await;
        assert_problem(resp, 412, &format!("If-Match {stale}")).await;
    }
    assert_eq!(
        app.get_json(&path).await["name"],
        "B",
        "412s change nothing"
    );

    let star = app
        .send_json(Method::PUT, &path, &json!({"name": "D"}), Some("*"))
        .await;
    assert_eq!(star.status(), 200);
}

async fn racing_updates_with_one_etag_let_exactly_one_win(app: TestApp) {
    let (path, etag) = ada_and_her_etag(&app).await;

    let updates = (0..10).map(|i| {
        app.client
            .put(app.url(&path))
            .header("if-match", &etag)
            .json(&json!({"name": format!("N{i}")}))
            .send()
    });
    let statuses: Vec<u16> = futures::future::join_all(updates)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();

    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        9,
        "{statuses:?}"
    );
}

async fn update_user_returns_409_for_a_taken_email_and_404_for_an_unknown_user(app: TestApp) {
    app.create_user("taken@example.com", "Taken").await;
    let user = app.create_user("ada@example.com", "Ada").await;

    let taken = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/users/{}", user["id"]),
            &json!({"email": "Taken@Example.com"}),
            None,
        )
        .await;
    assert_problem(taken, 409, "email of another user").await;

    let missing = app
        .send_json(
            Method::PUT,
            "/api/v1/users/999999",
            &json!({"name": "X"}),
            None,
        )
        .await;
    assert_problem(missing, 404, "unknown user").await;
}

async fn update_user_without_any_field_is_422(app: TestApp) {
    let user = app.create_user("ada@example.com", "Ada").await;
    let resp = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/users/{}", user["id"]),
            &json!({}),
            None,
        )
        .await;
    let body = assert_problem(resp, 422, "empty update").await;
    assert_eq!(problem_fields(&body), ["body"]);
}

crate::on_both_backends!(
    put_and_patch_update_only_the_given_fields_and_bump_updated_at,
    update_with_if_match_succeeds_on_the_current_etag_and_412s_on_any_other,
    racing_updates_with_one_etag_let_exactly_one_win,
    update_user_returns_409_for_a_taken_email_and_404_for_an_unknown_user,
    update_user_without_any_field_is_422,
);
