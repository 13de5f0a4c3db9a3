//! Request targets, hostile and malformed: paths, query strings, routes
//! and methods.

use crate::helpers::{assert_problem, TestApp};

const USERS: &str = "/api/v1/users";

async fn malformed_path_ids_are_400(app: TestApp) {
    for id in [
        "abc",
        "1.5",
        "1e3",
        "0x10",
        "-1",
        "%2B1",
        "99999999999999999999",
    ] {
        assert_problem(app.get(&format!("{USERS}/{id}")).await, 400, id).await;
    }
}

async fn unknown_routes_are_404_and_wrong_methods_405_with_allow(app: TestApp) {
    for path in ["/", "/api/v1/nope", "/api/v2/users", "/api/v1/users/1/2"] {
        assert_problem(app.get(path).await, 404, path).await;
    }
    let on_item = app
        .client
        .post(app.url(&format!("{USERS}/1")))
        .send()
        .await
        .unwrap();
    let allow = on_item.headers()["allow"].to_str().unwrap().to_owned();
    assert_problem(on_item, 405, "POST on a user").await;
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        assert!(allow.contains(method), "Allow: {allow}");
    }
    let on_collection = app.delete(USERS).await;
    assert!(on_collection.headers()["allow"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert_problem(on_collection, 405, "DELETE on the collection").await;
}

async fn nul_control_and_non_utf8_bytes_in_paths_and_queries_are_400(app: TestApp) {
    let user_id = app.a_user().await;
    for target in [
        "/api/v1/users/%00".to_owned(),
        "/api/v1/users/1%00".to_owned(),
        "/api/v1/users?email=nul%00byte@example.com".to_owned(),
        "/api/v1/users?email=tab%09@example.com".to_owned(),
        "/api/v1/users?limit=1%00".to_owned(),
        "/api/v1/users?after=%00".to_owned(),
        "/api/v1/users?%00=1".to_owned(),
        "/api/v1/orders?user_id=%00".to_owned(),
        "/api/v1/orders?status=paid%00".to_owned(),
        format!("/api/v1/users/{user_id}/orders?status=%00"),
        // A lone surrogate, and a byte that starts no UTF-8 character.
        "/api/v1/users?email=%ED%A0%80@example.com".to_owned(),
        "/api/v1/users?email=%FF@example.com".to_owned(),
    ] {
        assert_problem(app.get(&target).await, 400, &target).await;
    }
    assert_eq!(app.get("/readyz").await.status(), 200);
}

crate::on_both_backends!(
    malformed_path_ids_are_400,
    unknown_routes_are_404_and_wrong_methods_405_with_allow,
    nul_control_and_non_utf8_bytes_in_paths_and_queries_are_400,
);
