//! Creating and reading orders: `POST /api/v1/orders`, `GET /api/v1/orders/{id}`.

use serde_json::{json, Value};

use super::ORDERS;
use crate::helpers::{assert_problem, header, location_and_etag, problem_fields, TestApp};

async fn create_order_returns_201_with_total_items_location_and_etag(app: TestApp) {
    let user_id = app.a_user().await;
    let body = json!({"user_id": user_id, "items": [
        {"sku": "BOOK-1", "quantity": 2, "unit_price": 1250},
        {"sku": "PEN-9", "quantity": 3, "unit_price": 99}
    ]});

    let resp = app.post_json(ORDERS, &body).await;

    assert_eq!(resp.status(), 201);
    let (location, etag) = location_and_etag(&resp);
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
    assert_eq!(header(&fetched, "etag"), etag);
    assert_eq!(fetched.json::<Value>().await.unwrap(), order);
    assert_eq!(app.db_pool.count("order_items").await, 2);
}

async fn create_order_keeps_the_given_currency(app: TestApp) {
    let user_id = app.a_user().await;
    let body = json!({"user_id": user_id, "currency": "EUR", "items": [{"sku": "A", "quantity": 1, "unit_price": 0}]});
    let order: Value = app.post_json(ORDERS, &body).await.json().await.unwrap();
    assert_eq!(order["currency"], "EUR");
    assert_eq!(order["total"], 0);
}

async fn create_order_for_an_unknown_user_is_422_on_user_id_and_writes_nothing(app: TestApp) {
    let body = json!({"user_id": 987654, "items": [{"sku": "A", "quantity": 1, "unit_price": 5}]});

    let problem = assert_problem(app.post_json(ORDERS, &body).await, 422, "unknown user").await;

    assert_eq!(problem_fields(&problem), ["user_id"]);
    assert_eq!(app.db_pool.count("orders").await, 0);
    assert_eq!(app.db_pool.count("order_items").await, 0);
}

async fn create_order_rejects_each_broken_rule_naming_the_field(app: TestApp) {
    let user_id = app.a_user().await;
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
        assert_eq!(problem_fields(&problem), [field], "{case}");
    }
    assert_eq!(app.db_pool.count("orders").await, 0);
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

crate::on_both_backends!(
    create_order_returns_201_with_total_items_location_and_etag,
    create_order_keeps_the_given_currency,
    create_order_for_an_unknown_user_is_422_on_user_id_and_writes_nothing,
    create_order_rejects_each_broken_rule_naming_the_field,
    get_order_returns_404_for_an_unknown_id_and_400_for_a_bad_one,
);
