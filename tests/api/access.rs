//! Access control with API keys, on both backends: keys made and revoked by
//! the real `orderly keys` command, checked over HTTP by the running app,
//! which reloads them by itself. (Longer than most: one scenario per role
//! and refusal, each a few requests long.)

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::process::{create_api_key, orderly_command, revoke_api_key};
use crate::helpers::{assert_problem, header, one_item, time_until, TestApp};

mod process;

/// How soon a key made or revoked elsewhere must take effect here.
const PROPAGATION: Duration = Duration::from_secs(3);

/// A request to `path` with `key` as its bearer token, if any.
fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
) -> reqwest::RequestBuilder {
    let request = app.client.request(method, app.url(path));
    match key {
        Some(key) => request.bearer_auth(key),
        None => request,
    }
}

async fn status(request: reqwest::RequestBuilder) -> u16 {
    request
        .send()
        .await
        .expect("request sent")
        .status()
        .as_u16()
}

/// Creates a key with the command and waits until the app has it: it
/// refuses a request without a key (an open API answers anyone, whatever
/// it sends) and takes this one.
async fn a_key(app: &TestApp, role: &str) -> String {
    let key = create_api_key(app.database_url(), role).await;
    let took = time_until("the app takes the new key", async || {
        status(request(app, Method::GET, "/api/v1/users", None)).await == 401
            && status(request(app, Method::GET, "/api/v1/users", Some(&key))).await == 200
    })
    .await;
    assert!(took < PROPAGATION, "a new key took {took:?} to work");
    key
}

/// What `orderly keys list` prints.
async fn listed(app: &TestApp) -> String {
    let (code, stdout, stderr) = orderly_command(app.database_url(), &["keys", "list"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    stdout
}

/// Every `/api/v1` operation, on ids that exist.
fn every_operation(user: i64, order: i64) -> Vec<(Method, String, Option<Value>)> {
    let user_path = format!("/api/v1/users/{user}");
    let order_path = format!("/api/v1/orders/{order}");
    vec![
        (Method::GET, "/api/v1/users".into(), None),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(json!({"email": "new@example.com", "name": "New"})),
        ),
        (Method::GET, user_path.clone(), None),
        (
            Method::PUT,
            user_path.clone(),
            Some(json!({"email": "b@example.com", "name": "B"})),
        ),
        (Method::PATCH, user_path.clone(), Some(json!({"name": "C"}))),
        (Method::DELETE, user_path.clone(), None),
        (Method::GET, format!("{user_path}/orders"), None),
        (Method::GET, "/api/v1/orders".into(), None),
        (
            Method::POST,
            "/api/v1/orders".into(),
            Some(json!({"user_id": user, "items": one_item()})),
        ),
        (Method::GET, order_path.clone(), None),
        (
            Method::PUT,
            order_path.clone(),
            Some(json!({"status": "paid"})),
        ),
        (Method::PATCH, order_path, Some(json!({"status": "paid"}))),
    ]
}

/// A user with an order, made while the API is still open.
async fn a_user_with_an_order(app: &TestApp) -> (i64, i64) {
    let user = app.a_user().await;
    let order = app.create_order(user, one_item()).await["id"]
        .as_i64()
        .unwrap();
    (user, order)
}

async fn without_keys_the_api_on_loopback_is_open_and_ignores_credentials(app: TestApp) {
    for key in [None, Some("not-a-key"), Some("orderly_unknown")] {
        let resp = request(&app, Method::GET, "/api/v1/users", key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{key:?}");
    }
    app.create_user("open@example.com", "Open").await;
}

async fn once_a_key_exists_every_api_request_needs_a_valid_one(app: TestApp) {
    let (user, order) = a_user_with_an_order(&app).await;
    let key = a_key(&app, "admin").await;
    let before = (
        app.db_pool.count("users").await,
        app.db_pool.count("orders").await,
    );

    let unknown = format!("orderly_{}", "A".repeat(43));
    let cases: [(&str, Option<&str>, &str); 5] = [
        ("no Authorization", None, r#"Bearer realm="orderly""#),
        ("another scheme", None, r#"Bearer realm="orderly""#),
        ("a key without Bearer", None, r#"Bearer realm="orderly""#),
        (
            "not shaped like a key",
            Some("letmein"),
            r#"Bearer realm="orderly", error="invalid_token""#,
        ),
        (
            "an unknown key",
            Some(&unknown),
            r#"Bearer realm="orderly", error="invalid_token""#,
        ),
    ];
    for (method, path, body) in every_operation(user, order) {
        for (case, token, challenge) in cases {
            let mut sent = request(&app, method.clone(), &path, token);
            match case {
                "another scheme" => sent = sent.header("authorization", format!("Basic {key}")),
                "a key without Bearer" => sent = sent.header("authorization", key.clone()),
                _ => {}
            }
            if let Some(body) = &body {
                sent = sent.json(body);
            }
            let resp = sent.send().await.unwrap();
            let what = format!("{method} {path}, {case}");
            assert_eq!(header(&resp, "www-authenticate"), challenge, "{what}");
            let problem = assert_problem(resp, 401, &what).await;
            assert_eq!(problem["type"], "/problems/unauthorized", "{what}");
        }
    }
    // Nothing a refused request asked for was done.
    let after = (
        app.db_pool.count("users").await,
        app.db_pool.count("orders").await,
    );
    assert_eq!(after, before);
    // The operations routes need no key.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(
            status(request(&app, Method::GET, path, None)).await,
            200,
            "{path}"
        );
    }
    // Bytes that are not text in the header: 401, not a 400 or 500.
    let resp = app
        .client
        .get(app.url("/api/v1/users"))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "non-UTF-8 Authorization").await;
}

async fn without_a_valid_key_no_api_path_is_revealed_served_or_not(app: TestApp) {
    let key = a_key(&app, "admin").await;
    let probes = [
        (Method::GET, "/api/v1/nope"),
        (Method::GET, "/api/v2/users"),
        (Method::DELETE, "/api/v1/users"),
        (Method::POST, "/api/v1/users/1/orders"),
    ];
    for (method, path) in &probes {
        let what = format!("{method} {path} without a key");
        let resp = request(&app, method.clone(), path, None)
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(&resp, "www-authenticate"),
            r#"Bearer realm="orderly""#,
            "{what}"
        );
        assert_problem(resp, 401, &what).await;
        let unknown = format!("orderly_{}", "B".repeat(43));
        let resp = request(&app, method.clone(), path, Some(&unknown))
            .send()
            .await
            .unwrap();
        assert_problem(resp, 401, &format!("{method} {path} with an unknown key")).await;
    }
    // With a valid key, the truth: no such route, or not that method.
    let resp = request(&app, Method::GET, "/api/v1/nope", Some(&key))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 404, "an unknown route with a key").await;
    let resp = request(&app, Method::DELETE, "/api/v1/users", Some(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    // Paths outside the API are not guarded.
    assert_eq!(status(request(&app, Method::GET, "/nope", None)).await, 404);
}

async fn revoking_the_last_key_keeps_the_api_closed_until_revoked_keys_are_forgotten(app: TestApp) {
    let only = a_key(&app, "admin").await;
    revoke_api_key(app.database_url(), 1).await;
    let took = time_until("the app refuses the revoked key", async || {
        status(request(&app, Method::GET, "/api/v1/users", Some(&only))).await == 401
    })
    .await;
    assert!(took < PROPAGATION, "took {took:?}");
    // Closed to everyone, although no key is active and the bind is loopback.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for key in [Some(only.as_str()), None] {
        let resp = request(&app, Method::GET, "/api/v1/users", key)
            .send()
            .await
            .unwrap();
        assert_problem(
            resp,
            401,
            &format!("{key:?} after the last key was revoked"),
        )
        .await;
    }
    // Explicitly reopened: the revoked keys forgotten.
    let (code, _, stderr) = orderly_command(app.database_url(), &["keys", "forget-revoked"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("forgot 1 revoked"), "{stderr}");
    let took = time_until("the app runs open again", async || {
        status(request(&app, Method::GET, "/api/v1/users", None)).await == 200
    })
    .await;
    assert!(took < PROPAGATION, "took {took:?}");
}

async fn a_read_key_only_reads_and_an_admin_key_does_everything(app: TestApp) {
    let (user, order) = a_user_with_an_order(&app).await;
    let read = a_key(&app, "read").await;
    let admin = a_key(&app, "admin").await;
    let before = (
        app.db_pool.count("users").await,
        app.db_pool.count("orders").await,
    );
    for (method, path, body) in every_operation(user, order) {
        let mut sent = request(&app, method.clone(), &path, Some(&read));
        if let Some(body) = &body {
            sent = sent.json(body);
        }
        let resp = sent.send().await.unwrap();
        let what = format!("{method} {path} with a read key");
        if method == Method::GET {
            assert_eq!(resp.status(), 200, "{what}");
        } else {
            assert_eq!(
                header(&resp, "www-authenticate"),
                r#"Bearer realm="orderly", error="insufficient_scope""#,
                "{what}"
            );
            let problem = assert_problem(resp, 403, &what).await;
            assert_eq!(problem["type"], "/problems/forbidden");
        }
    }
    let after = (
        app.db_pool.count("users").await,
        app.db_pool.count("orders").await,
    );
    assert_eq!(after, before, "a read key changed data");

    // The admin key: every operation, in an order where each succeeds.
    let expected = [200, 201, 200, 200, 200, 409, 200, 200, 201, 200, 200, 409];
    for ((method, path, body), want) in every_operation(user, order).into_iter().zip(expected) {
        let mut sent = request(&app, method.clone(), &path, Some(&admin));
        if let Some(body) = &body {
            sent = sent.json(body);
        }
        assert_eq!(
            status(sent).await,
            want,
            "{method} {path} with an admin key"
        );
    }
}

async fn a_revoked_key_is_refused_within_seconds_and_the_others_still_work(app: TestApp) {
    let kept = a_key(&app, "admin").await;
    let revoked = a_key(&app, "read").await;
    assert_eq!(
        status(request(&app, Method::GET, "/api/v1/users", Some(&revoked))).await,
        200
    );
    revoke_api_key(app.database_url(), 2).await;
    let took = time_until("the app refuses the revoked key", async || {
        status(request(&app, Method::GET, "/api/v1/users", Some(&revoked))).await == 401
    })
    .await;
    assert!(took < PROPAGATION, "revocation took {took:?}");
    println!("revocation took effect after {took:?}");
    let resp = request(&app, Method::GET, "/api/v1/users", Some(&revoked))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&resp, "www-authenticate"),
        r#"Bearer realm="orderly", error="invalid_token""#
    );
    assert_eq!(
        status(request(&app, Method::GET, "/api/v1/users", Some(&kept))).await,
        200
    );
    // The list shows the revocation and the last use, and never a key.
    let list = listed(&app).await;
    assert!(
        !list.contains(&kept) && !list.contains(&revoked) && !list.contains("orderly_"),
        "{list}"
    );
    let row = list
        .lines()
        .find(|l| l.trim_start().starts_with("2 "))
        .expect("key 2 listed");
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns[1], "read", "{row}");
    assert_ne!(columns[3], "-", "last use not recorded: {row}");
    assert_ne!(columns[4], "-", "revocation not shown: {row}");
}

async fn idempotency_keys_belong_to_the_api_key_that_sent_them(app: TestApp) {
    let user = app.a_user().await;
    let alice = a_key(&app, "admin").await;
    let bob = a_key(&app, "admin").await;
    let body_of = |quantity: i64| {
        json!({"user_id": user, "items": [{"sku": "A", "quantity": quantity, "unit_price": 5}]})
            .to_string()
    };
    let post = async |key: &str, body: String| {
        let resp = request(&app, Method::POST, "/api/v1/orders", Some(key))
            .header("content-type", "application/json")
            .header("idempotency-key", "shared-choice")
            .body(body)
            .send()
            .await
            .unwrap();
        let replayed = header(&resp, "idempotent-replayed") == "true";
        assert_eq!(resp.status(), 201);
        let order: Value = resp.json().await.unwrap();
        (
            order["id"].as_i64().unwrap(),
            order["items"][0]["quantity"].as_i64().unwrap(),
            replayed,
        )
    };
    // The same key with different bodies: each client's own order, no 422.
    let (a, a_quantity, a_replayed) = post(&alice, body_of(1)).await;
    let (b, b_quantity, b_replayed) = post(&bob, body_of(2)).await;
    assert_ne!(a, b);
    assert_eq!((a_quantity, b_quantity), (1, 2));
    assert!(!a_replayed && !b_replayed);
    // Each repeat replays its own client's answer.
    assert_eq!(post(&alice, body_of(1)).await, (a, 1, true));
    assert_eq!(post(&bob, body_of(2)).await, (b, 2, true));
    assert_eq!(app.db_pool.count("orders").await, 2);
}

crate::on_both_backends!(
    without_keys_the_api_on_loopback_is_open_and_ignores_credentials,
    once_a_key_exists_every_api_request_needs_a_valid_one,
    without_a_valid_key_no_api_path_is_revealed_served_or_not,
    revoking_the_last_key_keeps_the_api_closed_until_revoked_keys_are_forgotten,
    a_read_key_only_reads_and_an_admin_key_does_everything,
    a_revoked_key_is_refused_within_seconds_and_the_others_still_work,
    idempotency_keys_belong_to_the_api_key_that_sent_them,
);
