//! Moving orders along the status machine: `PUT` and `PATCH
//! /api/v1/orders/{id}`, with `If-Match`, under races; never `DELETE`.

use reqwest::Method;
use serde_json::{json, Value};

use super::{move_to, ORDERS};
use crate::helpers::{assert_problem, location_and_etag, one_item, problem_fields, TestApp};

async fn an_order_moves_pending_paid_shipped_delivered_and_no_further(app: TestApp) {
    let order = app.create_order(app.a_user().await, one_item()).await;
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
    let user_id = app.a_user().await;
    let item = one_item();
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
    assert_eq!(problem_fields(&problem), ["status"]);
    assert_eq!(
        app.get_json(&format!("{ORDERS}/{}", order["id"])).await["status"],
        "pending"
    );
}

async fn pending_and_paid_orders_can_be_cancelled_but_shipped_ones_cannot(app: TestApp) {
    let user_id = app.a_user().await;
    let item = one_item();
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
        .post_json(ORDERS, &json!({"user_id": app.a_user().await, "items": [{"sku": "A", "quantity": 1, "unit_price": 5}]}))
        .await;
    let (path, etag) = location_and_etag(&created);

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
    let user_id = app.a_user().await;
    let item = one_item();
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
    let final_status = app.get_json(&format!("{ORDERS}/{}", order["id"])).await["status"].clone();
    match won.as_slice() {
        ["paid"] => assert_eq!(final_status, "paid"),
        ["cancelled"] | ["cancelled", "paid"] => assert_eq!(final_status, "cancelled"),
        other => panic!("impossible winners {other:?}"),
    }
}

async fn orders_cannot_be_deleted_405_with_allow(app: TestApp) {
    let order = app.create_order(app.a_user().await, one_item()).await;
    let resp = app.delete(&format!("{ORDERS}/{}", order["id"])).await;
    let allow = resp.headers()["allow"].to_str().unwrap().to_owned();
    assert_problem(resp, 405, "DELETE an order").await;
    assert!(
        allow.contains("GET")
            && allow.contains("PUT")
            && allow.contains("PATCH")
            && !allow.contains("DELETE"),
        "{allow}"
    );
    assert_eq!(app.db_pool.count("orders").await, 1);
}

crate::on_both_backends!(
    an_order_moves_pending_paid_shipped_delivered_and_no_further,
    illegal_moves_are_409_naming_both_states,
    pending_and_paid_orders_can_be_cancelled_but_shipped_ones_cannot,
    order_updates_honour_if_match,
    racing_status_moves_from_one_state_let_exactly_one_win,
    orders_cannot_be_deleted_405_with_allow,
);
