//! Request bodies, hostile and malformed: every rejection is the right
//! status with a problem+json body, nothing is written, and the service
//! keeps serving.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{assert_problem, problem_fields, TestApp};

const USERS: &str = "/api/v1/users";

async fn post_raw(
    app: &TestApp,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(USERS)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.unwrap()
}

/// A valid create body padded with JSON whitespace to exactly `len` bytes.
fn user_body_of_len(len: usize) -> Vec<u8> {
    let mut body = br#"{"email": "pad@example.com", "name": "Pad"}"#.to_vec();
    body.resize(len, b' ');
    body
}

async fn bodies_that_are_not_json_are_400(app: TestApp) {
    for (case, body) in [
        ("truncated", "{\"email\": "),
        ("empty", ""),
        ("whitespace only", "  \n\t "),
        ("single quotes", "{'email': 'a@b.co'}"),
        (
            "lone surrogate",
            r#"{"email": "a@example.com", "name": "\ud800"}"#,
        ),
        (
            "trailing garbage",
            r#"{"email": "a@example.com", "name": "A"} x"#,
        ),
    ] {
        assert_problem(
            post_raw(&app, Some("application/json"), body).await,
            400,
            case,
        )
        .await;
    }
    let invalid_utf8 = b"{\"email\": \"a@example.com\", \"name\": \"\xff\"}".to_vec();
    assert_problem(
        post_raw(&app, Some("application/json"), invalid_utf8).await,
        400,
        "invalid UTF-8",
    )
    .await;
    assert_eq!(app.db_pool.count("users").await, 0);
}

async fn json_that_breaks_a_rule_is_422_naming_each_field(app: TestApp) {
    let long_name = "n".repeat(201);
    let long_email = format!("{}@example.com", "a".repeat(243));
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("null body", json!(null), vec!["body"]),
        ("array body", json!([]), vec!["body"]),
        ("number body", json!(42), vec!["body"]),
        ("missing both", json!({}), vec!["email", "name"]),
        (
            "null email",
            json!({"email": null, "name": "A"}),
            vec!["email"],
        ),
        (
            "number name",
            json!({"email": "a@example.com", "name": 2}),
            vec!["name"],
        ),
        (
            "bool email",
            json!({"email": true, "name": "A"}),
            vec!["email"],
        ),
        (
            "bad email",
            json!({"email": "not-an-email", "name": "A"}),
            vec!["email"],
        ),
        (
            "no dot in domain",
            json!({"email": "a@localhost", "name": "A"}),
            vec!["email"],
        ),
        (
            "email too long",
            json!({"email": long_email, "name": "A"}),
            vec!["email"],
        ),
        (
            "empty name",
            json!({"email": "a@example.com", "name": "   "}),
            vec!["name"],
        ),
        (
            "name too long",
            json!({"email": "a@example.com", "name": long_name}),
            vec!["name"],
        ),
        (
            "NUL in name",
            json!({"email": "a@example.com", "name": "A\u{0}B"}),
            vec!["name"],
        ),
        (
            "unknown field",
            json!({"email": "a@example.com", "name": "A", "admin": true}),
            vec!["admin"],
        ),
        (
            "client-sent id",
            json!({"id": 5, "email": "a@example.com", "name": "A"}),
            vec!["id"],
        ),
    ];
    for (case, body, fields) in cases {
        let problem = assert_problem(app.post_json(USERS, &body).await, 422, case).await;
        assert_eq!(problem_fields(&problem), fields, "{case}");
    }
    assert_eq!(app.db_pool.count("users").await, 0);
}

async fn bodies_that_are_not_application_json_are_415(app: TestApp) {
    let body = r#"{"email": "a@example.com", "name": "A"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=latin1"),
        None,
    ] {
        assert_problem(
            post_raw(&app, content_type, body).await,
            415,
            &format!("{content_type:?}"),
        )
        .await;
    }
    for (i, content_type) in [
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "Application/Json;Charset=UTF-8",
    ]
    .iter()
    .enumerate()
    {
        let body = format!(r#"{{"email": "ok{i}@example.com", "name": "A"}}"#);
        assert_eq!(
            post_raw(&app, Some(content_type), body).await.status(),
            201,
            "{content_type}"
        );
    }
}

async fn a_body_of_exactly_64_kib_is_accepted_and_one_byte_more_is_413(app: TestApp) {
    assert_eq!(
        post_raw(&app, Some("application/json"), user_body_of_len(65_536))
            .await
            .status(),
        201
    );
    let too_big = post_raw(&app, Some("application/json"), user_body_of_len(65_537)).await;
    assert_problem(too_big, 413, "declared length").await;
    assert_eq!(app.db_pool.count("users").await, 1);
}

/// Sends a chunked request by hand (the client would declare a length) and
/// returns the response's status code.
async fn post_chunked(app: &TestApp, body: &[u8]) -> u16 {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {USERS} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(10_000) {
        stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(chunk).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    // The server may answer 413 and close before the last chunk.
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

async fn chunked_bodies_get_the_same_64_kib_limit(app: TestApp) {
    assert_eq!(post_chunked(&app, &user_body_of_len(65_536)).await, 201);
    assert_eq!(post_chunked(&app, &user_body_of_len(65_537)).await, 413);
    assert_eq!(app.db_pool.count("users").await, 1);
}

async fn the_service_keeps_serving_after_rejections(app: TestApp) {
    for _ in 0..3 {
        post_raw(&app, Some("application/json"), "{").await;
        post_raw(&app, Some("application/json"), user_body_of_len(70_000)).await;
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.create_user("still@example.com", "Still here").await;
}

crate::on_both_backends!(
    bodies_that_are_not_json_are_400,
    json_that_breaks_a_rule_is_422_naming_each_field,
    bodies_that_are_not_application_json_are_415,
    a_body_of_exactly_64_kib_is_accepted_and_one_byte_more_is_413,
    chunked_bodies_get_the_same_64_kib_limit,
    the_service_keeps_serving_after_rejections,
);
