//! `/api/v1/orders` and `/api/v1/users/{id}/orders`: every row of API.md's
//! Orders section.

use reqwest::Method;
use serde_json::{json, Value};

use orderly::config::Settings;

use crate::helpers::{assert_problem, TestApp};

const ORDERS: &str = "/api/v1/orders";

async fn a_user(app: &TestApp) -> i64 {
    app.create_user("buyer@example.com", "Buyer").await["id"]
        .as_i64()
        .unwrap()
}

async fn move_to(app: &TestApp, order_id: &Value, status: &str) -> reqwest::Response {
    app.send_json(
        Method::PUT,
        &format!("{ORDERS}/{order_id}"),
        &json!({"status": status}),
        None,
    )
    .await
}

async fn create_order_returns_201_with_total_items_location_and_etag(app: TestApp) {
    let user_id = a_user(&app).await;
    let body = json!({"user_id": user_id, "items": [
        {"sku": "BOOK-1", "quantity": 2, "unit_price": 1250},
        {"sku": "PEN-9", "quantity": 3, "unit_price": 99}
    ]});

    let resp = app.post_json(ORDERS, &body).await;

    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let order: Value = resp.json().await.unwrap();
    assert_eq!(location, format!("{ORDERS}/{}", order["id"]));
    let mut keys: Vec<_> = order.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "currency",
            "id",
            "items",
            "status",
            "total",
            "updated_at",
            "user_id"
        ]
    );
    assert_eq!(order["total"], 2 * 1250 + 3 * 99);
    assert_eq!(order["status"], "pending");
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["user_id"], user_id);
    assert_eq!(order["items"], body["items"]);
    let fetched = app.get(&location).await;
    assert_eq!(fetched.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(fetched.json::<Value>().await.unwrap(), order);
    assert_eq!(app.count("order_items").await, 2);
}

async fn create_order_keeps_the_given_currency(app: TestApp) {
    let user_id = a_user(&app).await;
    let body = json!({"user_id": user_id, "currency": "EUR", "items": [{"sku": "A", "quantity": 1, "unit_price": 0}]});
    let order: Value = app.post_json(ORDERS, &body).await.json().await.unwrap();
    assert_eq!(order["currency"], "EUR");
    assert_eq!(order["total"], 0);
}

async fn create_order_for_an_unknown_user_is_422_on_user_id_and_writes_nothing(app: TestApp) {
    let body = json!({"user_id": 987654, "items": [{"sku": "A", "quantity": 1, "unit_price": 5}]});

    let problem = assert_problem(app.post_json(ORDERS, &body).await, 422, "unknown user").await;

    assert_eq!(problem["errors"][0]["field"], "user_id");
    assert_eq!(app.count("orders").await, 0);
    assert_eq!(app.count("order_items").await, 0);
}

async fn create_order_rejects_each_broken_rule_naming_the_field(app: TestApp) {
    let user_id = a_user(&app).await;
    let item = json!({"sku": "A", "quantity": 1, "unit_price": 5});
    let with_item = |patch: Value| {
        let mut it = item.clone();
        it.as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        json!({"user_id": user_id, "items": [it]})
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "client-sent total",
            json!({"user_id": user_id, "items": [item], "total": 5}),
            "total",
        ),
        (
            "no items",
            json!({"user_id": user_id, "items": []}),
            "items",
        ),
        (
            "101 items",
            json!({"user_id": user_id, "items": vec![item.clone(); 101]}),
            "items",
        ),
        (
            "items not an array",
            json!({"user_id": user_id, "items": {}}),
            "items",
        ),
        (
            "item not an object",
            json!({"user_id": user_id, "items": [5]}),
            "items[0]",
        ),
        ("missing items", json!({"user_id": user_id}), "items"),
        (
            "user_id as string",
            json!({"user_id": user_id.to_string(), "items": [item]}),
            "user_id",
        ),
        (
            "user_id null",
            json!({"user_id": null, "items": [item]}),
            "user_id",
        ),
        (
            "user_id zero",
            json!({"user_id": 0, "items": [item]}),
            "user_id",
        ),
        (
            "lower-case currency",
            json!({"user_id": user_id, "currency": "usd", "items": [item]}),
            "currency",
        ),
        (
            "unknown currency",
            json!({"user_id": user_id, "currency": "ZZZ", "items": [item]}),
            "currency",
        ),
        ("empty sku", with_item(json!({"sku": ""})), "items[0].sku"),
        (
            "long sku",
            with_item(json!({"sku": "S".repeat(65)})),
            "items[0].sku",
        ),
        (
            "sku with NUL",
            with_item(json!({"sku": "A\u{0}"})),
            "items[0].sku",
        ),
        (
            "quantity 0",
            with_item(json!({"quantity": 0})),
            "items[0].quantity",
        ),
        (
            "quantity 10001",
            with_item(json!({"quantity": 10_001})),
            "items[0].quantity",
        ),
        (
            "quantity as string",
            with_item(json!({"quantity": "2"})),
            "items[0].quantity",
        ),
        (
            "quantity as float",
            with_item(json!({"quantity": 2.5})),
            "items[0].quantity",
        ),
        (
            "quantity as bool",
            with_item(json!({"quantity": true})),
            "items[0].quantity",
        ),
        (
            "negative price",
            with_item(json!({"unit_price": -1})),
            "items[0].unit_price",
        ),
        (
            "price too high",
            with_item(json!({"unit_price": 100_000_001})),
            "items[0].unit_price",
        ),
        (
            "price beyond 64 bits",
            with_item(json!({"unit_price": u64::MAX})),
            "items[0].unit_price",
        ),
        (
            "unknown item field",
            with_item(json!({"colour": "red"})),
            "items[0].colour",
        ),
    ];
    for (case, body, field) in cases {
        let problem = assert_problem(app.post_json(ORDERS, &body).await, 422, case).await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{case}");
    }
    assert_eq!(app.count("orders").await, 0);
}

async fn get_order_returns_404_for_an_unknown_id_and_400_for_a_bad_one(app: TestApp) {
    assert_problem(
        app.get(&format!("{ORDERS}/424242")).await,
        404,
        "unknown order",
    )
    .await;
    assert_problem(app.get(&format!("{ORDERS}/abc")).await, 400, "bad id").await;
}

async fn an_order_moves_pending_paid_shipped_delivered_and_no_further(app: TestApp) {
    let order = app
        .create_order(
            a_user(&app).await,
            json!([{"sku": "A", "quantity": 1, "unit_price": 5}]),
        )
        .await;
    let mut last_updated = order["updated_at"].as_str().unwrap().to_owned();

    for status in ["paid", "shipped", "delivered"] {
        let resp = move_to(&app, &order["id"], status).await;
        assert_eq!(resp.status(), 200, "to {status}");
        let moved: Value = resp.json().await.unwrap();
        assert_eq!(moved["status"], status);
        assert_eq!(moved["items"], order["items"], "items are immutable");
        assert!(moved["updated_at"].as_str().unwrap() > last_updated.as_str());
        last_updated = moved["updated_at"].as_str().unwrap().to_owned();
    }

    for status in ["cancelled", "pending", "delivered"] {
        let problem = assert_problem(move_to(&app, &order["id"], status).await, 409, status).await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("delivered") && detail.contains(status),
            "{detail}"
        );
    }
}

async fn illegal_moves_are_409_naming_both_states(app: TestApp) {
    let user_id = a_user(&app).await;
    let item = json!([{"sku": "A", "quantity": 1, "unit_price": 5}]);
    let order = app.create_order(user_id, item.clone()).await;
    for status in ["pending", "shipped", "delivered"] {
        let problem = assert_problem(move_to(&app, &order["id"], status).await, 409, status).await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("pending") && detail.contains(status),
            "{detail}"
        );
    }
    let problem = assert_problem(
        move_to(&app, &order["id"], "lost").await,
        422,
        "unknown status",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "status");
    assert_eq!(
        app.get(&format!("{ORDERS}/{}", order["id"]))
            .await
            .json::<Value>()
            .await
            .unwrap()["status"],
        "pending"
    );
}

async fn pending_and_paid_orders_can_be_cancelled_but_shipped_ones_cannot(app: TestApp) {
    let user_id = a_user(&app).await;
    let item = json!([{"sku": "A", "quantity": 1, "unit_price": 5}]);
    let pending = app.create_order(user_id, item.clone()).await;
    let paid = app.create_order(user_id, item.clone()).await;
    let shipped = app.create_order(user_id, item.clone()).await;
    assert_eq!(move_to(&app, &paid["id"], "paid").await.status(), 200);
    assert_eq!(move_to(&app, &shipped["id"], "paid").await.status(), 200);
    assert_eq!(move_to(&app, &shipped["id"], "shipped").await.status(), 200);

    let patch = app
        .send_json(
            Method::PATCH,
            &format!("{ORDERS}/{}", pending["id"]),
            &json!({"status": "cancelled"}),
            None,
        )
        .await;
    assert_eq!(patch.status(), 200, "PATCH is the same as PUT");
    assert_eq!(move_to(&app, &paid["id"], "cancelled").await.status(), 200);
    assert_problem(
        move_to(&app, &shipped["id"], "cancelled").await,
        409,
        "shipped -> cancelled",
    )
    .await;
    assert_problem(
        move_to(&app, &pending["id"], "paid").await,
        409,
        "cancelled -> paid",
    )
    .await;
}

async fn order_updates_honour_if_match(app: TestApp) {
    let created = app
        .post_json(ORDERS, &json!({"user_id": a_user(&app).await, "items": [{"sku": "A", "quantity": 1, "unit_price": 5}]}))
        .await;
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let path = created.headers()["location"].to_str().unwrap().to_owned();

    let stale = app
        .send_json(
            Method::PUT,
            &path,
            &json!({"status": "paid"}),
            Some("\"v1\""),
        )
        .await;
    assert_problem(stale, 412, "made-up ETag").await;
    let current = app
        .send_json(Method::PUT, &path, &json!({"status": "paid"}), Some(&etag))
        .await;
    assert_eq!(current.status(), 200);
    let again = app
        .send_json(
            Method::PUT,
            &path,
            &json!({"status": "shipped"}),
            Some(&etag),
        )
        .await;
    assert_problem(again, 412, "the ETag before paying").await;
}

/// Fires `moves` concurrently at one order; returns the moves that won.
async fn race_moves<'a>(app: &TestApp, order_id: &Value, moves: &[&'a str]) -> Vec<&'a str> {
    let requests = moves.iter().map(|status| move_to(app, order_id, status));
    let statuses: Vec<u16> = futures::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "only 200 or 409: {statuses:?}"
    );
    moves
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| **s == 200)
        .map(|(m, _)| *m)
        .collect()
}

async fn racing_status_moves_from_one_state_let_exactly_one_win(app: TestApp) {
    let user_id = a_user(&app).await;
    let item = json!([{"sku": "A", "quantity": 1, "unit_price": 5}]);
    for target in ["paid", "cancelled"] {
        let order = app.create_order(user_id, item.clone()).await;
        assert_eq!(
            race_moves(&app, &order["id"], &[target; 10]).await,
            [target],
            "10 racing moves to {target}"
        );
    }

    // Mixed moves: one of them wins from pending; a cancel that starts after
    // the payment committed may then legally cancel the paid order, but
    // nothing else can happen.
    let order = app.create_order(user_id, item).await;
    let moves = [
        "paid",
        "cancelled",
        "paid",
        "cancelled",
        "paid",
        "cancelled",
    ];
    let mut won = race_moves(&app, &order["id"], &moves).await;
    won.sort();
    let final_status = app
        .get(&format!("{ORDERS}/{}", order["id"]))
        .await
        .json::<Value>()
        .await
        .unwrap()["status"]
        .clone();
    match won.as_slice() {
        ["paid"] => assert_eq!(final_status, "paid"),
        ["cancelled"] | ["cancelled", "paid"] => assert_eq!(final_status, "cancelled"),
        other => panic!("impossible winners {other:?}"),
    }
}

async fn orders_cannot_be_deleted_405_with_allow(app: TestApp) {
    let order = app
        .create_order(
            a_user(&app).await,
            json!([{"sku": "A", "quantity": 1, "unit_price": 5}]),
        )
        .await;
    let resp = app
        .client
        .delete(app.url(&format!("{ORDERS}/{}", order["id"])))
        .send()
        .await
        .unwrap();
    let allow = resp.headers()["allow"].to_str().unwrap().to_owned();
    assert_problem(resp, 405, "DELETE an order").await;
    assert!(
        allow.contains("GET")
            && allow.contains("PUT")
            && allow.contains("PATCH")
            && !allow.contains("DELETE"),
        "{allow}"
    );
    assert_eq!(app.count("orders").await, 1);
}

async fn deleting_a_user_with_orders_is_409(app: TestApp) {
    let user_id = a_user(&app).await;
    app.create_order(
        user_id,
        json!([{"sku": "A", "quantity": 1, "unit_price": 5}]),
    )
    .await;
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/users/{user_id}")))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 409, "user with an order").await;
    assert_eq!(
        app.get(&format!("/api/v1/users/{user_id}")).await.status(),
        200
    );
}

/// The ids of the orders on the page at `path`.
async fn page_ids(app: &TestApp, path: &str) -> Vec<i64> {
    ids(&app.get(path).await.json().await.unwrap())
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

async fn lists_filter_by_user_and_status(app: TestApp) {
    let ada = app.create_user("ada@example.com", "Ada").await["id"]
        .as_i64()
        .unwrap();
    let bob = app.create_user("bob@example.com", "Bob").await["id"]
        .as_i64()
        .unwrap();
    let item = json!([{"sku": "A", "quantity": 1, "unit_price": 5}]);
    let a1 = app.create_order(ada, item.clone()).await["id"]
        .as_i64()
        .unwrap();
    let b1 = app.create_order(bob, item.clone()).await["id"]
        .as_i64()
        .unwrap();
    let a2 = app.create_order(ada, item.clone()).await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(move_to(&app, &json!(a2), "paid").await.status(), 200);

    let all: Value = app.get(ORDERS).await.json().await.unwrap();
    assert_eq!(ids(&all), [a1, b1, a2]);
    assert_eq!(
        all["items"][0]["items"].as_array().unwrap().len(),
        1,
        "list entries carry their items"
    );
    assert_eq!(
        page_ids(&app, &format!("{ORDERS}?user_id={ada}")).await,
        [a1, a2]
    );
    assert_eq!(
        page_ids(&app, &format!("{ORDERS}?user_id={ada}&status=paid")).await,
        [a2]
    );
    assert_eq!(
        page_ids(&app, &format!("{ORDERS}?status=pending")).await,
        [a1, b1]
    );
    let nobody: Value = app
        .get(&format!("{ORDERS}?user_id=99999"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        ids(&nobody),
        Vec::<i64>::new(),
        "an unknown user's orders are an empty page"
    );

    assert_eq!(
        page_ids(&app, &format!("/api/v1/users/{ada}/orders")).await,
        [a1, a2]
    );
    assert_eq!(
        page_ids(&app, &format!("/api/v1/users/{ada}/orders?status=pending")).await,
        [a1]
    );
    assert_problem(
        app.get("/api/v1/users/99999/orders").await,
        404,
        "unknown user's orders",
    )
    .await;

    for query in [
        "user_id=abc",
        "user_id=0",
        "status=lost",
        "limit=0",
        "after=x",
        "colour=red",
    ] {
        assert_problem(app.get(&format!("{ORDERS}?{query}")).await, 400, query).await;
    }
    assert_problem(
        app.get(&format!("/api/v1/users/{ada}/orders?user_id={bob}"))
            .await,
        400,
        "user_id on a user's list",
    )
    .await;
}

async fn pagination_walks_every_order_once_while_others_insert(app: TestApp) {
    let user_id = a_user(&app).await;
    let item = json!([{"sku": "A", "quantity": 1, "unit_price": 5}]);
    let mut before = Vec::new();
    for _ in 0..25 {
        before.push(
            app.create_order(user_id, item.clone()).await["id"]
                .as_i64()
                .unwrap(),
        );
    }

    let inserter = async {
        let mut added = Vec::new();
        for _ in 0..15 {
            added.push(
                app.create_order(user_id, item.clone()).await["id"]
                    .as_i64()
                    .unwrap(),
            );
        }
        added
    };
    let walker = async {
        let mut seen = Vec::new();
        let mut url = format!("{ORDERS}?limit=4");
        loop {
            let page: Value = app.get(&url).await.json().await.unwrap();
            seen.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(cursor) => url = format!("{ORDERS}?limit=4&after={cursor}"),
                None => return seen,
            }
        }
    };
    let (added, seen) = tokio::join!(inserter, walker);

    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "ascending, no duplicates: {seen:?}"
    );
    assert!(
        before.iter().all(|id| seen.contains(id)),
        "no gaps among rows that existed: {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|id| before.contains(id) || added.contains(id)),
        "nothing invented"
    );
}

fn fail_order_before_items(settings: &mut Settings) {
    settings.faults.fail_order_before_items = true;
}

async fn a_failure_between_order_and_items_leaves_nothing_and_the_service_serves(app: TestApp) {
    let user_id = a_user(&app).await;
    let body = json!({"user_id": user_id, "items": [{"sku": "A", "quantity": 1, "unit_price": 5}]});

    let problem = assert_problem(app.post_json(ORDERS, &body).await, 500, "injected fault").await;
    assert!(
        !problem.to_string().contains("injected"),
        "5xx hides its cause: {problem}"
    );
    let keyed = app
        .client
        .post(app.url(ORDERS))
        .header("idempotency-key", "k-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(keyed, 500, "injected fault with a key").await;

    assert_eq!(app.count("orders").await, 0);
    assert_eq!(app.count("order_items").await, 0);
    assert_eq!(app.count("idempotency_keys").await, 0);
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.create_user("after@example.com", "After").await;
}

crate::on_both_backends!(
    create_order_returns_201_with_total_items_location_and_etag,
    create_order_keeps_the_given_currency,
    create_order_for_an_unknown_user_is_422_on_user_id_and_writes_nothing,
    create_order_rejects_each_broken_rule_naming_the_field,
    get_order_returns_404_for_an_unknown_id_and_400_for_a_bad_one,
    an_order_moves_pending_paid_shipped_delivered_and_no_further,
    illegal_moves_are_409_naming_both_states,
    pending_and_paid_orders_can_be_cancelled_but_shipped_ones_cannot,
    order_updates_honour_if_match,
    racing_status_moves_from_one_state_let_exactly_one_win,
    orders_cannot_be_deleted_405_with_allow,
    deleting_a_user_with_orders_is_409,
    lists_filter_by_user_and_status,
    pagination_walks_every_order_once_while_others_insert,
    a_failure_between_order_and_items_leaves_nothing_and_the_service_serves => fail_order_before_items,
);
