//! Listing users: `GET /api/v1/users`, keyset pages and the `email` filter.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, page_ids, TestApp};

/// Walks the list with `limit` and returns the ids seen, checking that
/// `next_cursor` is null exactly on the last page.
async fn walk(app: &TestApp, query: &str, limit: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut url = format!("/api/v1/users?limit={limit}{query}");
    loop {
        let page = app.get_json(&url).await;
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
    let default = app.get_json("/api/v1/users").await;
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
    let page = app.get_json("/api/v1/users?limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let third = app.create_user("c@example.com", "C").await["id"]
        .as_i64()
        .unwrap();

    let rest = app
        .get_json(&format!("/api/v1/users?limit=5&after={cursor}"))
        .await;
    assert_eq!(page_ids(&page), [first]);
    assert_eq!(page_ids(&rest), [second, third]);
}

async fn list_users_filters_by_email_case_insensitively(app: TestApp) {
    app.create_user("ada@example.com", "Ada").await;
    let grace = app.create_user("Grace@Example.com", "Grace").await;

    let page = app.get_json("/api/v1/users?email=GRACE@example.COM").await;
    assert_eq!(page["items"].as_array().unwrap(), &vec![grace]);
    let none = app.get_json("/api/v1/users?email=nobody@example.com").await;
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

async fn list_users_by_an_email_nobody_can_have_is_an_empty_page(app: TestApp) {
    app.create_user("ada@example.com", "Ada").await;
    let too_long = format!("{}@example.com", "a".repeat(300));

    let page = app
        .get_json(&format!("/api/v1/users?email={too_long}"))
        .await;

    assert_eq!(page, json!({"items": [], "next_cursor": null}));
}

crate::on_both_backends!(
    list_users_walks_every_user_once_in_id_order,
    list_users_cursor_resumes_after_its_row_despite_new_inserts,
    list_users_filters_by_email_case_insensitively,
    list_users_rejects_bad_query_parameters_with_400,
    list_users_by_an_email_nobody_can_have_is_an_empty_page,
);
