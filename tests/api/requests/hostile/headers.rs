//! Request headers: bytes that are not UTF-8, NUL and other control bytes,
//! 10,000-character values and 200 headers.

use super::{assert_still_serving, request, Battery, Case, Channel, Expect};
use crate::helpers::TestApp;

use Channel::Header;
use Expect::{App, Hyper};

const USERS: &str = "/api/v1/users";
const NEW_USER: &[u8] = br#"{"email": "header@example.com", "name": "Header"}"#;

/// A create with a valid body and one extra header.
fn create_with(name: &str, value: &[u8]) -> Vec<u8> {
    request(
        "POST",
        USERS.as_bytes(),
        &[("content-type", b"application/json"), (name, value)],
        Some(NEW_USER),
    )
}

/// A create with a valid body and this `Content-Type`.
fn create_typed(content_type: &[u8]) -> Vec<u8> {
    request(
        "POST",
        USERS.as_bytes(),
        &[("content-type", content_type)],
        Some(NEW_USER),
    )
}

/// A rename of `user_id` with one extra header.
fn rename_with(user_id: i64, name: &str, value: &[u8]) -> Vec<u8> {
    request(
        "PATCH",
        format!("{USERS}/{user_id}").as_bytes(),
        &[("content-type", b"application/json"), (name, value)],
        Some(br#"{"name": "Renamed"}"#),
    )
}

/// A read of the users with one extra header.
fn list_with(name: &str, value: &[u8]) -> Vec<u8> {
    request("GET", USERS.as_bytes(), &[(name, value)], None)
}

#[rustfmt::skip] // A table: one case per line.
fn cases(user_id: i64) -> Vec<Case> {
    let long = |prefix: &str| {
        let mut value = prefix.as_bytes().to_vec();
        value.resize(10_000, b'k');
        value
    };
    let many = |n: usize| {
        let names: Vec<String> = (0..n).map(|i| format!("x-filler-{i}")).collect();
        let headers: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"v"[..])).collect();
        request("GET", USERS.as_bytes(), &headers, None)
    };
    let long_name = format!("x-{}", "n".repeat(10_000));
    vec![
        Case::new(Header, "Idempotency-Key: 0xFF 0xFE (not UTF-8)", create_with("idempotency-key", b"\xff\xfe"), App(400)),
        Case::new(Header, "Idempotency-Key: ED A0 80 (lone surrogate)", create_with("idempotency-key", b"k\xed\xa0\x80"), App(400)),
        Case::new(Header, "Idempotency-Key: 'a<TAB>b'", create_with("idempotency-key", b"a\tb"), App(400)),
        Case::new(Header, "Idempotency-Key: raw NUL byte", create_with("idempotency-key", b"a\x00b"), Hyper(400)),
        Case::new(Header, "Idempotency-Key: raw 0x01", create_with("idempotency-key", b"a\x01b"), Hyper(400)),
        Case::new(Header, "Idempotency-Key: raw DEL 0x7F", create_with("idempotency-key", b"a\x7fb"), Hyper(400)),
        Case::new(Header, "Idempotency-Key: bare CR inside", create_with("idempotency-key", b"a\rb"), Hyper(400)),
        Case::new(Header, "Idempotency-Key of 10,000 characters", create_with("idempotency-key", &long("key-")), App(400)),
        Case::new(Header, "Content-Type: application/json + 0xFF", create_typed(b"application/json\xff"), App(415)),
        Case::new(Header, "Content-Type of 10,000 characters", create_typed(&long("application/json; charset=")), App(415)),
        Case::new(Header, "Content-Type: raw NUL byte", create_typed(b"application/json\x00"), Hyper(400)),
        Case::new(Header, "If-Match: \"v1\" + 0xFF", rename_with(user_id, "if-match", b"\"v1\xff\""), App(412)),
        Case::new(Header, "If-Match: ED A0 80 (lone surrogate)", rename_with(user_id, "if-match", b"\"\xed\xa0\x80\""), App(412)),
        Case::new(Header, "If-Match of 10,000 characters", rename_with(user_id, "if-match", &long("\"v")), App(412)),
        Case::new(Header, "If-Match: \"v184467440737095516160\"", rename_with(user_id, "if-match", b"\"v184467440737095516160\""), App(412)),
        Case::new(Header, "If-Match: \"v' OR '1'='1\"", rename_with(user_id, "if-match", b"\"v' OR '1'='1\""), App(412)),
        Case::new(Header, "X-Request-Id: 0xFF (replaced by a new id)", list_with("x-request-id", b"\xff"), App(200)),
        Case::new(Header, "X-Request-Id of 10,000 characters", list_with("x-request-id", &long("req-")), App(200)),
        Case::new(Header, "X-Request-Id: '; DROP TABLE users; --", list_with("x-request-id", b"'; DROP TABLE users; --"), App(200)),
        Case::new(Header, "Accept: 0xFF", list_with("accept", b"\xff"), App(200)),
        Case::new(Header, "Authorization: Bearer of 10,000 characters", list_with("authorization", &long("Bearer ")), App(200)),
        Case::new(Header, "Cookie of 10,000 characters", list_with("cookie", &long("session=")), App(200)),
        Case::new(Header, "a header name of 10,000 characters", list_with(&long_name, b"v"), App(200)),
        Case::new(Header, "X-Filler: raw NUL byte", list_with("x-filler", b"\x00"), Hyper(400)),
        Case::new(Header, "X-Filler: raw ESC 0x1B", list_with("x-filler", b"\x1b[31m"), Hyper(400)),
        Case::new(Header, "NUL byte in a header name", list_with("x-fil\x00ler", b"v"), Hyper(400)),
        Case::new(Header, "space before the colon", list_with("x-filler ", b"v"), Hyper(400)),
        Case::new(Header, "90 headers (under hyper's 100)", many(90), App(200)),
        Case::new(Header, "200 headers", many(200), Hyper(431)),
    ]
}

async fn hostile_headers_are_refused_cleanly(app: TestApp) {
    let user_id = app.a_user().await;
    let mut battery = Battery::new(&app);
    battery.run(&app, cases(user_id)).await;
    battery.finish("headers");
    // The If-Match rows were refused: the user kept its name.
    let user = app.get_json(&format!("{USERS}/{user_id}")).await;
    assert_eq!(user["name"], "Buyer");
    assert_still_serving(&app, "headers").await;
}

crate::on_both_backends!(hostile_headers_are_refused_cleanly);
