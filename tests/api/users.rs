//! `/api/v1/users`: every row of API.md's users table.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};

async fn create_user_returns_201_with_location_etag_and_exact_keys(app: TestApp) {
    let resp = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "  Ada@Example.com ", "name": " Ada "}),
        )
        .await;

    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
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
    assert_eq!(fetched.headers()["etag"].to_str().unwrap(), etag);
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
    assert_eq!(app.count("users").await, 1);
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
    assert_eq!(app.count("users").await, 1);
}

async fn get_user_returns_404_for_an_unknown_id(app: TestApp) {
    assert_problem(app.get("/api/v1/users/424242").await, 404, "unknown id").await;
    assert_problem(app.get("/api/v1/users/0").await, 404, "id 0").await;
}

async fn put_and_patch_update_only_the_given_fields_and_bump_updated_at(app: TestApp) {
    let user = app.create_user("ada@example.com", "Ada").await;
    let path = format!("/api/v1/users/{}", user["id"]);

    let put = app
        .client
        .put(app.url(&path))
        .json(&json!({"name": "Ada L."}))
        .send()
        .await
        .unwrap();
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
        .client
        .patch(app.url(&path))
        .json(&json!({"email": "lovelace@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);
    let after_patch: Value = patch.json().await.unwrap();
    assert_eq!(after_patch["name"], "Ada L.");
    assert_eq!(after_patch["email"], "lovelace@example.com");
    assert_eq!(
        app.get(&path).await.json::<Value>().await.unwrap(),
        after_patch
    );
}

async fn update_with_if_match_succeeds_on_the_current_etag_and_412s_on_any_other(app: TestApp) {
    let created = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "ada@example.com", "name": "Ada"}),
        )
        .await;
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let path = created.headers()["location"].to_str().unwrap().to_owned();

    let ok = app
        .client
        .put(app.url(&path))
        .header("if-match", &etag)
        .json(&json!({"name": "B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let new_etag = ok.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag, "every write gets a new ETag");

    for stale in [etag.as_str(), "\"made-up\"", "W/\"v1\"", "garbage"] {
        let resp = app
            .client
            .patch(app.url(&path))
            .header("if-match", stale)
            .json(&json!({"name": "C"}))
            .send()
            .await
            .unwrap();
        assert_problem(resp, 412, &format!("If-Match {stale}")).await;
    }
    assert_eq!(
        app.get(&path).await.json::<Value>().await.unwrap()["name"],
        "B",
        "412s change nothing"
    );

    let star = app
        .client
        .put(app.url(&path))
        .header("if-match", "*")
        .json(&json!({"name": "D"}))
        .send()
        .await
        .unwrap();
    assert_eq!(star.status(), 200);
}

async fn racing_updates_with_one_etag_let_exactly_one_win(app: TestApp) {
    let created = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "ada@example.com", "name": "Ada"}),
        )
        .await;
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let path = created.headers()["location"].to_str().unwrap().to_owned();

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
        .client
        .put(app.url(&format!("/api/v1/users/{}", user["id"])))
        .json(&json!({"email": "Taken@Example.com"}))
        .send()
        .await
        .unwrap();
    assert_problem(taken, 409, "email of another user").await;

    let missing = app
        .client
        .put(app.url("/api/v1/users/999999"))
        .json(&json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    assert_problem(missing, 404, "unknown user").await;
}

async fn update_user_without_any_field_is_422(app: TestApp) {
    let user = app.create_user("ada@example.com", "Ada").await;
    let resp = app
        .client
        .put(app.url(&format!("/api/v1/users/{}", user["id"])))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 422, "empty update").await;
    assert_eq!(body["errors"][0]["field"], "body");
}

async fn delete_user_returns_204_then_404(app: TestApp) {
    let user = app.create_user("ada@example.com", "Ada").await;
    let path = app.url(&format!("/api/v1/users/{}", user["id"]));

    let first = app.client.delete(&path).send().await.unwrap();
    assert_eq!(first.status(), 204);
    assert!(first.bytes().await.unwrap().is_empty());
    assert_problem(
        app.client.delete(&path).send().await.unwrap(),
        404,
        "second delete",
    )
    .await;
    assert_eq!(app.count("users").await, 0);
}

async fn delete_user_who_has_orders_is_409_and_keeps_everything(app: TestApp) {
    let user = app.create_user("buyer@example.com", "Buyer").await;
    app.execute(&format!(
        "INSERT INTO orders (user_id, total) VALUES ({}, 500)",
        user["id"]
    ))
    .await;

    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/users/{}", user["id"])))
        .send()
        .await
        .unwrap();

    assert_problem(resp, 409, "user with an order").await;
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("orders").await, 1);
}

/// Walks the list with `limit` and returns the ids seen, checking that
/// `next_cursor` is null exactly on the last page.
async fn walk(app: &TestApp, query: &str, limit: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut url = format!("/api/v1/users?limit={limit}{query}");
    loop {
        let page: Value = app.get(&url).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        ids.extend(items.iter().map(|u| u["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(items.len(), limit, "only full pages have a next cursor");
                url = format!("/api/v1/users?limit={limit}{query}&after={cursor}");
            }
            None => return ids,
        }
    }
}

async fn list_users_walks_every_user_once_in_id_order(app: TestApp) {
    let mut created = Vec::new();
    for i in 0..6 {
        created.push(
            app.create_user(&format!("u{i}@example.com"), "U").await["id"]
                .as_i64()
                .unwrap(),
        );
    }

    assert_eq!(
        walk(&app, "", 3).await,
        created,
        "the last page is full yet next_cursor is null"
    );
    assert_eq!(walk(&app, "", 4).await, created);
    assert_eq!(walk(&app, "", 200).await, created);
    let default: Value = app.get("/api/v1/users").await.json().await.unwrap();
    assert_eq!(default["items"].as_array().unwrap().len(), 6);
    assert_eq!(default["next_cursor"], Value::Null);
}

async fn list_users_cursor_resumes_after_its_row_despite_new_inserts(app: TestApp) {
    let first = app.create_user("a@example.com", "A").await["id"]
        .as_i64()
        .unwrap();
    let second = app.create_user("b@example.com", "B").await["id"]
        .as_i64()
        .unwrap();
    let page: Value = app.get("/api/v1/users?limit=1").await.json().await.unwrap();
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let third = app.create_user("c@example.com", "C").await["id"]
        .as_i64()
        .unwrap();

    let rest: Value = app
        .get(&format!("/api/v1/users?limit=5&after={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page["items"][0]["id"], first);
    assert_eq!(ids, [second, third]);
}

async fn list_users_filters_by_email_case_insensitively(app: TestApp) {
    app.create_user("ada@example.com", "Ada").await;
    let grace = app.create_user("Grace@Example.com", "Grace").await;

    let page: Value = app
        .get("/api/v1/users?email=GRACE@example.COM")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap(), &vec![grace]);
    let none: Value = app
        .get("/api/v1/users?email=nobody@example.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    assert_eq!(none["next_cursor"], Value::Null);
}

async fn list_users_rejects_bad_query_parameters_with_400(app: TestApp) {
    for query in [
        "limit=0",
        "limit=-1",
        "limit=201",
        "limit=abc",
        "limit=1.5",
        "after=not-a-cursor",
        "colour=red",
        "limit=1&limit=2",
        "email=",
    ] {
        assert_problem(app.get(&format!("/api/v1/users?{query}")).await, 400, query).await;
    }
}

crate::on_both_backends!(
    create_user_returns_201_with_location_etag_and_exact_keys,
    create_user_returns_409_when_email_taken_in_other_case,
    racing_creates_of_one_email_give_one_201_and_409s_only,
    get_user_returns_404_for_an_unknown_id,
    put_and_patch_update_only_the_given_fields_and_bump_updated_at,
    update_with_if_match_succeeds_on_the_current_etag_and_412s_on_any_other,
    racing_updates_with_one_etag_let_exactly_one_win,
    update_user_returns_409_for_a_taken_email_and_404_for_an_unknown_user,
    update_user_without_any_field_is_422,
    delete_user_returns_204_then_404,
    delete_user_who_has_orders_is_409_and_keeps_everything,
    list_users_walks_every_user_once_in_id_order,
    list_users_cursor_resumes_after_its_row_despite_new_inserts,
    list_users_filters_by_email_case_insensitively,
    list_users_rejects_bad_query_parameters_with_400,
);
