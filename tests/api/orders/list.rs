//! Listing orders: `GET /api/v1/orders` and `GET /api/v1/users/{id}/orders`.

use serde_json::json;

use super::{move_to, ORDERS};
use crate::helpers::{assert_problem, one_item, page_ids, TestApp};

async fn lists_filter_by_user_and_status(app: TestApp) {
    let ada = app.create_user("ada@example.com", "Ada").await["id"]
        .as_i64()
        .unwrap();
    let bob = app.create_user("bob@example.com", "Bob").await["id"]
        .as_i64()
        .unwrap();
    let item = one_item();
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

    let all = app.get_json(ORDERS).await;
    assert_eq!(page_ids(&all), [a1, b1, a2]);
    assert_eq!(
        all["items"][0]["items"].as_array().unwrap().len(),
        1,
        "list entries carry their items"
    );
    assert_eq!(
        page_ids(&app.get_json(&format!("{ORDERS}?user_id={ada}")).await),
        [a1, a2]
    );
    assert_eq!(
        page_ids(
            &app.get_json(&format!("{ORDERS}?user_id={ada}&status=paid"))
                .await
        ),
        [a2]
    );
    assert_eq!(
        page_ids(&app.get_json(&format!("{ORDERS}?status=pending")).await),
        [a1, b1]
    );
    let nobody = app.get_json(&format!("{ORDERS}?user_id=99999")).await;
    assert_eq!(
        page_ids(&nobody),
        Vec::<i64>::new(),
        "an unknown user's orders are an empty page"
    );

    assert_eq!(
        page_ids(&app.get_json(&format!("/api/v1/users/{ada}/orders")).await),
        [a1, a2]
    );
    assert_eq!(
        page_ids(
            &app.get_json(&format!("/api/v1/users/{ada}/orders?status=pending"))
                .await
        ),
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
    let user_id = app.a_user().await;
    let item = one_item();
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
            let page = app.get_json(&url).await;
            seen.extend(page_ids(&page));
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

crate::on_both_backends!(
    lists_filter_by_user_and_status,
    pagination_walks_every_order_once_while_others_insert,
);
