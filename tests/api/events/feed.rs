//! `GET /api/v1/events`: one event per committed change, none for a
//! refused one, in order, and a consumer following the cursor while
//! writers race misses none.
//!
//! Each test has a database of its own: on PostgreSQL the feed waits for
//! every write transaction of its database, so another test's transaction
//! left open there on purpose would hold this one's events back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::events::deliveries::{fast_retries, until_received};
use crate::helpers::database::TestDatabase;
use crate::helpers::receiver::Receiver;
use crate::helpers::{header, one_item, Backend, DbPool, TestApp};
use crate::on_both_backends;

on_both_backends!(own_database:
    each_committed_change_has_one_event_and_refused_ones_none,
    a_consumer_following_the_feed_during_concurrent_writes_sees_each_change_once,
    the_feed_filters_by_type_and_refuses_bad_queries,
    events_past_their_retention_are_purged => purge_often,
);

fn purge_often(settings: &mut orderly::config::Settings) {
    settings.key_purge_interval = std::time::Duration::from_millis(100);
}

/// An event aged past `--event-retention-days` (30) goes; a recent one stays.
async fn events_past_their_retention_are_purged(app: TestApp) {
    app.create_user("old@example.com", "Old").await;
    let aged = match app.db_pool {
        DbPool::Postgres(_) => "UPDATE orderly_events SET created_at = now() - interval '31 days'",
        DbPool::Sqlite(_) => "UPDATE orderly_events SET created_at = created_at - 31 * 86400000000",
    };
    app.db_pool.execute(aged).await;
    app.create_user("new@example.com", "New").await;
    crate::helpers::time_until("the aged event is purged", async || {
        app.db_pool.count("orderly_events").await == 1
    })
    .await;
    let (events, _) = app.drain_feed(None).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["email"], "new@example.com");
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn each_committed_change_has_one_event_and_refused_ones_none(app: TestApp) {
    let user = app.create_user("ev@example.com", "Ev").await;
    let user_id = user["id"].as_i64().unwrap();
    let user_path = format!("/api/v1/users/{user_id}");
    // Refused: a taken address (409), an unknown user (422).
    let taken = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "EV@example.com", "name": "x"}),
        )
        .await;
    assert_eq!(taken.status(), 409);
    let unknown = app
        .post_json(
            "/api/v1/orders",
            &json!({"user_id": 999_999, "items": one_item()}),
        )
        .await;
    assert_eq!(unknown.status(), 422);
    // An update, then one with the ETag it replaced (412).
    let stale = header(&app.get(&user_path).await, "etag");
    let renamed = app
        .send_json(Method::PATCH, &user_path, &json!({"name": "Eve"}), None)
        .await;
    assert_eq!(renamed.status(), 200);
    let renamed: Value = renamed.json().await.unwrap();
    let refused = app
        .send_json(
            Method::PATCH,
            &user_path,
            &json!({"name": "Old"}),
            Some(&stale),
        )
        .await;
    assert_eq!(refused.status(), 412);
    // A keyed create sent three times: one order, one event.
    let body = json!({"user_id": user_id, "items": one_item()}).to_string();
    let mut answers = Vec::new();
    for _ in 0..3 {
        let resp = app.post_with_key("/api/v1/orders", "ev-key-1", &body).await;
        assert_eq!(resp.status(), 201);
        answers.push(resp.json::<Value>().await.unwrap());
    }
    let order = answers[0].clone();
    assert!(
        answers.iter().all(|a| a["id"] == order["id"]),
        "{answers:?}"
    );
    let order_path = format!("/api/v1/orders/{}", order["id"]);
    let paid = app
        .send_json(Method::PATCH, &order_path, &json!({"status": "paid"}), None)
        .await;
    assert_eq!(paid.status(), 200);
    let paid: Value = paid.json().await.unwrap();
    // Refused: an illegal move (409), deleting a user with orders (409).
    let illegal = app
        .send_json(
            Method::PATCH,
            &order_path,
            &json!({"status": "delivered"}),
            None,
        )
        .await;
    assert_eq!(illegal.status(), 409);
    assert_eq!(app.delete(&user_path).await.status(), 409);
    let gone = app.create_user("gone@example.com", "Gone").await;
    let gone_path = format!("/api/v1/users/{}", gone["id"]);
    assert_eq!(app.delete(&gone_path).await.status(), 204);

    let (events, _) = app.drain_feed(None).await;
    assert_eq!(
        types(&events),
        [
            "user.created",
            "user.updated",
            "order.created",
            "order.status_changed",
            "user.created",
            "user.deleted"
        ]
    );
    // Each carries the resource as the API answered it after the change.
    assert_eq!(events[0]["data"], user);
    assert_eq!(events[1]["data"], renamed);
    assert_eq!(events[2]["data"], order);
    assert_eq!(events[3]["data"], paid);
    assert_eq!(events[3]["previous_status"], "pending");
    assert_eq!(events[4]["data"], gone);
    assert_eq!(events[5]["data"], gone, "a deleted user as it was");
    let ids: BTreeSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "ids are unique");
    assert!(
        ids.iter()
            .all(|id| id.starts_with("evt_") && id.len() == 36),
        "{ids:?}"
    );
    assert_eq!(app.db_pool.count("orderly_events").await, 6);
}

/// Writers create users and orders (some refused: a taken address, an
/// unknown user) and move orders, while a consumer follows the feed in
/// small pages. Every committed change shows up exactly once, and nothing
/// else does.
async fn a_consumer_following_the_feed_during_concurrent_writes_sees_each_change_once(
    app: TestApp,
) {
    const WRITERS: usize = 6;
    const ROUNDS: usize = 15;
    let buyer = app.a_user().await;
    let (seen_before, start) = app.drain_feed(None).await;
    assert_eq!(seen_before.len(), 1);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let consumer = {
        let (api, done) = ((*app).clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = start;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let path = format!("/api/v1/events?limit=7&after={}", cursor.clone().unwrap());
                let page: Value = api.get_json(&path).await;
                let items = page["items"].as_array().unwrap().clone();
                cursor = page["next_cursor"].as_str().map(str::to_owned);
                if items.is_empty() && finished {
                    return seen;
                }
                seen.extend(items);
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let api = (*app).clone();
            tokio::spawn(async move {
                let mut committed: Vec<(String, i64)> = Vec::new();
                for r in 0..ROUNDS {
                    let email = format!("w{w}-{r}@example.com");
                    let user = api
                        .post_json("/api/v1/users", &json!({"email": email, "name": "W"}))
                        .await;
                    assert_eq!(user.status(), 201);
                    let user: Value = user.json().await.unwrap();
                    committed.push(("user.created".into(), user["id"].as_i64().unwrap()));
                    // Refused, both: no event may appear for them.
                    let again = api
                        .post_json("/api/v1/users", &json!({"email": email, "name": "W"}))
                        .await;
                    assert_eq!(again.status(), 409);
                    let orphan = api
                        .post_json(
                            "/api/v1/orders",
                            &json!({"user_id": 987_654, "items": one_item()}),
                        )
                        .await;
                    assert_eq!(orphan.status(), 422);
                    let order = api
                        .post_json(
                            "/api/v1/orders",
                            &json!({"user_id": buyer, "items": one_item()}),
                        )
                        .await;
                    assert_eq!(order.status(), 201);
                    let id = order.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
                    committed.push(("order.created".into(), id));
                    if r % 3 == 0 {
                        let path = format!("/api/v1/orders/{id}");
                        let moved = api
                            .send_json(Method::PATCH, &path, &json!({"status": "paid"}), None)
                            .await;
                        assert_eq!(moved.status(), 200);
                        committed.push(("order.status_changed".into(), id));
                    }
                }
                committed
            })
        })
        .collect();
    let mut committed = Vec::new();
    for writer in writers {
        committed.extend(writer.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = consumer.await.unwrap();

    let mut counts: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for event in &seen {
        let key = (
            event["type"].as_str().unwrap().to_owned(),
            event["data"]["id"].as_i64().unwrap(),
        );
        *counts.entry(key).or_default() += 1;
    }
    let expected: BTreeMap<(String, i64), usize> = committed.into_iter().map(|k| (k, 1)).collect();
    let rows = app.db_pool.count("orderly_events").await;
    println!(
        "feed consumer: {} events seen while {} writers ran; {} expected; {} rows (one before)",
        seen.len(),
        WRITERS,
        expected.len(),
        rows
    );
    assert_eq!(
        counts, expected,
        "each committed change exactly once, nothing else"
    );
    assert_eq!(seen.len() as i64 + 1, rows);
}

async fn the_feed_filters_by_type_and_refuses_bad_queries(app: TestApp) {
    let buyer = app.a_user().await;
    app.create_order(buyer, one_item()).await;
    app.create_order(buyer, one_item()).await;
    let page = app.get_json("/api/v1/events?type=order.created").await;
    assert_eq!(
        types(page["items"].as_array().unwrap()),
        ["order.created", "order.created"]
    );
    let page = app
        .get_json("/api/v1/events?type=user.created,user.deleted&limit=1")
        .await;
    assert_eq!(types(page["items"].as_array().unwrap()), ["user.created"]);
    // At the end, the cursor given comes back: keep polling with it.
    let after = page["next_cursor"].as_str().unwrap();
    let end = app.get_json(&format!("/api/v1/events?after={after}")).await;
    assert_eq!(end["items"].as_array().unwrap().len(), 2);
    let last = end["next_cursor"].as_str().unwrap();
    let empty = app.get_json(&format!("/api/v1/events?after={last}")).await;
    assert_eq!(empty["items"], json!([]));
    assert_eq!(empty["next_cursor"], last);
    for bad in [
        "type=order.paid",
        "after=abc",
        "limit=0",
        "limit=201",
        "colour=red",
    ] {
        let resp = app.get(&format!("/api/v1/events?{bad}")).await;
        crate::helpers::assert_problem(resp, 400, bad).await;
    }
}

/// PostgreSQL: a transaction that wrote an event and is still open holds
/// the feed back, so the events committed after it (with higher sequence
/// numbers) are not served past it: once it commits, its event comes
/// first. A feed by sequence number alone would skip it for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_event_still_in_an_open_transaction_is_not_skipped() {
    let app = TestApp::spawn_in_own_database(Backend::Postgres, |_| {}).await;
    let (_, start) = app.drain_feed(None).await;
    assert!(start.is_none());
    let DbPool::Postgres(pool) = &app.db_pool else {
        unreachable!("a PostgreSQL app")
    };
    let mut client = pool.get().await.unwrap();
    let open = client.transaction().await.unwrap();
    open.batch_execute(
        "INSERT INTO orderly_events (type, data) VALUES ('user.created',
           '{\"id\": 424242, \"email\": \"slow@example.com\", \"name\": \"Slow\", \"created_at\": 0, \"updated_at\": 0}')",
    )
    .await
    .unwrap();
    let buyer = app.a_user().await;
    app.create_order(buyer, one_item()).await;
    // Both of these committed, but the open transaction might still put an
    // event before them: none is served yet.
    let (early, cursor) = app.drain_feed(None).await;
    assert_eq!(
        early,
        Vec::<Value>::new(),
        "served past an open transaction"
    );
    open.commit().await.unwrap();
    let (events, _) = app.drain_feed(cursor).await;
    assert_eq!(
        types(&events),
        ["user.created", "user.created", "order.created"]
    );
    assert_eq!(events[0]["data"]["email"], "slow@example.com");
}

/// PostgreSQL: a write transaction open in another database of the same
/// server (another service's, a forgotten session) cannot write an event
/// here, so it does not hold the feed back, nor a webhook's queue. (The
/// server-wide oldest transaction would: every change committed after it
/// would wait until it ended.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_transaction_open_in_another_database_holds_nothing_back() {
    let app = TestApp::spawn_in_own_database(Backend::Postgres, fast_retries).await;
    let mut receiver = Receiver::on_a_free_port();
    let (_, secret) = app.add_webhook(&receiver.url(), None).await;
    receiver.with_secret(&secret).listen(200, 0).await;
    let elsewhere = TestDatabase::create_own(Backend::Postgres).await;
    let DbPool::Postgres(other) = elsewhere.pool().await else {
        unreachable!("a PostgreSQL database")
    };
    let mut client = other.get().await.unwrap();
    let open = client.transaction().await.unwrap();
    let held: i64 = open
        .query_one("SELECT pg_current_xact_id()::text::bigint", &[])
        .await
        .unwrap()
        .get(0);
    let buyer = app.a_user().await;
    app.create_order(buyer, one_item()).await;
    let DbPool::Postgres(own) = &app.db_pool else {
        unreachable!("a PostgreSQL app")
    };
    // The transaction elsewhere is older than the changes, and still runs.
    let below: i64 = own
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT count(*) FROM orderly_events WHERE xid > $1
               AND pg_snapshot_xmin(pg_current_snapshot())::text::bigint <= $1",
            &[&held],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(below, 2, "both events come after the open transaction");
    let (events, _) = app.drain_feed(None).await;
    assert_eq!(types(&events), ["user.created", "order.created"]);
    let ids = events.iter().map(|e| e["id"].as_str().unwrap().to_owned());
    until_received(&receiver, &ids.collect(), Duration::from_secs(10)).await;
    open.rollback().await.unwrap();
}
