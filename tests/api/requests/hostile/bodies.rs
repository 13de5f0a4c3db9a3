//! JSON bodies: bytes that are not UTF-8, NUL and control characters, lone
//! surrogates, deep nesting and numbers past 64 bits, in every field of
//! every write. `requests/bodies.rs` already covers `\xff` and `\ud800` in a
//! user's name and `\u0000` in a name; those are not repeated.

use super::{assert_still_serving, send_json, Battery, Case, Channel, Expect};
use crate::helpers::TestApp;

use Channel::Body;
use Expect::App;

const USERS: &str = "/api/v1/users";
const ORDERS: &str = "/api/v1/orders";

fn user(body: &[u8]) -> Vec<u8> {
    send_json("POST", USERS, body)
}

/// An order for `user_id` whose one item has `field` written as `raw`.
fn order_with_item(user_id: i64, field: &str, raw: &str) -> Vec<u8> {
    let mut item = vec![
        ("sku", "\"BOOK-1\"".to_owned()),
        ("quantity", "1".to_owned()),
        ("unit_price", "100".to_owned()),
    ];
    for entry in &mut item {
        if entry.0 == field {
            entry.1 = raw.to_owned();
        }
    }
    let item: Vec<String> = item.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    let body = format!(
        r#"{{"user_id": {user_id}, "items": [{{{}}}]}}"#,
        item.join(", ")
    );
    send_json("POST", ORDERS, body)
}

fn order_with(raw_user_id: &str, extra: &str) -> Vec<u8> {
    let body = format!(
        r#"{{"user_id": {raw_user_id}{extra}, "items": [{{"sku": "A", "quantity": 1, "unit_price": 1}}]}}"#
    );
    send_json("POST", ORDERS, body)
}

#[rustfmt::skip] // A table: one case per line.
fn encoding_cases(user_id: i64, order_id: i64) -> Vec<Case> {
    let pay = |raw: &str| {
        send_json(
            "PATCH",
            &format!("{ORDERS}/{order_id}"),
            format!(r#"{{"status": {raw}}}"#),
        )
    };
    let mut sku_ff = format!(r#"{{"user_id": {user_id}, "items": [{{"sku": "BO"#).into_bytes();
    sku_ff.extend_from_slice(b"\xff\", \"quantity\": 1, \"unit_price\": 1}]}");
    let mut utf16 = Vec::new();
    for unit in r#"{"email": "a@example.com", "name": "A"}"#.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    vec![
        // Bytes that are not UTF-8: 400, the body is not JSON text.
        Case::new(Body, "0xFF inside the email", user(b"{\"email\": \"\xff@example.com\", \"name\": \"A\"}"), App(400)),
        Case::new(Body, "0xFF inside an object key", user(b"{\"\xff\": 1, \"email\": \"a@example.com\", \"name\": \"A\"}"), App(400)),
        Case::new(Body, "0xFF between tokens", user(b"{\"email\": \"a@example.com\",\xff \"name\": \"A\"}"), App(400)),
        Case::new(Body, "overlong C0 AF in the name", user(b"{\"email\": \"a@example.com\", \"name\": \"\xc0\xaf\"}"), App(400)),
        Case::new(Body, "truncated E2 82 at the end of the name", user(b"{\"email\": \"a@example.com\", \"name\": \"A\xe2\x82\"}"), App(400)),
        Case::new(Body, "raw surrogate bytes ED A0 80 in the name", user(b"{\"email\": \"a@example.com\", \"name\": \"\xed\xa0\x80\"}"), App(400)),
        Case::new(Body, "Latin-1 0xEB in the name", user(b"{\"email\": \"a@example.com\", \"name\": \"Zo\xeb\"}"), App(400)),
        Case::new(Body, "a UTF-8 byte order mark first", user(b"\xef\xbb\xbf{\"email\": \"a@example.com\", \"name\": \"A\"}"), App(400)),
        Case::new(Body, "the body in UTF-16LE", user(&utf16), App(400)),
        Case::new(Body, "0xFF inside a sku", send_json("POST", ORDERS, sku_ff), App(400)),
        Case::new(Body, "0xFF inside a status", send_json("PATCH", &format!("{ORDERS}/{order_id}"), b"{\"status\": \"paid\xff\"}"), App(400)),
        // Raw control bytes are not allowed inside JSON strings: 400.
        Case::new(Body, "raw NUL byte inside the name", user(b"{\"email\": \"a@example.com\", \"name\": \"A\x00B\"}"), App(400)),
        Case::new(Body, "raw NUL byte between tokens", user(b"{\"email\": \"a@example.com\",\x00 \"name\": \"A\"}"), App(400)),
        Case::new(Body, "raw 0x01 inside the email", user(b"{\"email\": \"a\x01@example.com\", \"name\": \"A\"}"), App(400)),
        Case::new(Body, "raw TAB inside the name", user(b"{\"email\": \"a@example.com\", \"name\": \"A\tB\"}"), App(400)),
        // Escaped control characters are JSON; the rules refuse them: 422.
        Case::new(Body, "\\u0000 in the email", user(br#"{"email": "a\u0000@example.com", "name": "A"}"#), App(422)),
        Case::new(Body, "\\u0000 as the whole name", user(br#"{"email": "a@example.com", "name": "\u0000"}"#), App(422)),
        Case::new(Body, "\\u001b[31m (ANSI) in the name", user(br#"{"email": "a@example.com", "name": "\u001b[31mRed"}"#), App(422)),
        Case::new(Body, "\\u007f (DEL) in the name", user(br#"{"email": "a@example.com", "name": "A\u007f"}"#), App(422)),
        Case::new(Body, "\\u0085 (C1 NEL) in the name", user(br#"{"email": "a@example.com", "name": "A\u0085B"}"#), App(422)),
        Case::new(Body, "\\u000b only (trims to empty) as the name", user(br#"{"email": "a@example.com", "name": "\u000b"}"#), App(422)),
        Case::new(Body, "\\u0000 in an object key", user(br#"{"email\u0000": "a@example.com", "name": "A"}"#), App(422)),
        Case::new(Body, "\\u0000 in a sku", order_with_item(user_id, "sku", r#""A\u0000""#), App(422)),
        Case::new(Body, "\\u0000 in the currency", order_with(&user_id.to_string(), r#", "currency": "US\u0000""#), App(422)),
        Case::new(Body, "\\u0000 in a status", pay(r#""paid\u0000""#), App(422)),
        Case::new(Body, "\\u0000 in a rename", send_json("PATCH", &format!("{USERS}/{user_id}"), br#"{"name": "\u0000"}"#), App(422)),
        // Lone surrogates: not a character, so not a string we can take: 400.
        Case::new(Body, "\\ud800 in the email", user(br#"{"email": "\ud800@example.com", "name": "A"}"#), App(400)),
        Case::new(Body, "\\udfff (lone low) in the name", user(br#"{"email": "a@example.com", "name": "\udfff"}"#), App(400)),
        Case::new(Body, "\\udc00\\ud800 (reversed pair) in the name", user(br#"{"email": "a@example.com", "name": "\udc00\ud800"}"#), App(400)),
        Case::new(Body, "\\ud800\\u0041 (high, then no low)", user(br#"{"email": "a@example.com", "name": "\ud800\u0041"}"#), App(400)),
        Case::new(Body, "\\uD800 (upper-case hex) in an object key", user(br#"{"\uD800": 1, "email": "a@example.com", "name": "A"}"#), App(400)),
        Case::new(Body, "\\ud800 in a sku", order_with_item(user_id, "sku", r#""\ud800""#), App(400)),
        Case::new(Body, "\\ud800 in the currency", order_with(&user_id.to_string(), r#", "currency": "\ud800""#), App(400)),
        Case::new(Body, "\\ud800 in a status", pay(r#""\ud800""#), App(400)),
        Case::new(Body, "\\ud800 in a rename's email", send_json("PATCH", &format!("{USERS}/{user_id}"), br#"{"email": "\ud800@example.com"}"#), App(400)),
    ]
}

#[rustfmt::skip] // A table: one case per line.
fn nesting_cases(user_id: i64) -> Vec<Case> {
    let open = |n: usize| "[".repeat(n);
    let closed = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
    vec![
        Case::new(Body, "100,000 '[' (over the 64 KiB limit)", user(open(100_000).as_bytes()), App(413)),
        Case::new(Body, "60,000 '[', unclosed", user(open(60_000).as_bytes()), App(400)),
        Case::new(Body, "30,000 '[' closed again (well-formed)", user(closed(30_000).as_bytes()), App(422)),
        Case::new(Body, "10,000 nested objects (well-formed)", user(objects(10_000).as_bytes()), App(422)),
        Case::new(Body, "email: 20,000 nested arrays", user(format!(r#"{{"email": {}, "name": "A"}}"#, closed(20_000)).as_bytes()), App(422)),
        Case::new(Body, "items[0].sku: 20,000 nested arrays", order_with_item(user_id, "sku", &closed(20_000)), App(422)),
        Case::new(Body, "100 nested arrays (within the parser's depth)", user(closed(100).as_bytes()), App(422)),
    ]
}

#[rustfmt::skip] // A table: one case per line.
fn number_cases(user_id: i64) -> Vec<Case> {
    let item = |field: &str, raw: &str| order_with_item(user_id, field, raw);
    vec![
        Case::new(Body, "user_id: 184467440737095516160", order_with("184467440737095516160", ""), App(422)),
        Case::new(Body, "user_id: 18446744073709551615 (u64::MAX)", order_with("18446744073709551615", ""), App(422)),
        Case::new(Body, "user_id: 9223372036854775808 (i64::MAX + 1)", order_with("9223372036854775808", ""), App(422)),
        Case::new(Body, "user_id: -9223372036854775809", order_with("-9223372036854775809", ""), App(422)),
        Case::new(Body, "user_id: 9223372036854775807 (nobody)", order_with("9223372036854775807", ""), App(422)),
        Case::new(Body, "user_id: -0", order_with("-0", ""), App(422)),
        Case::new(Body, "user_id: 1e400", order_with("1e400", ""), App(422)),
        Case::new(Body, "user_id: 400 digits", order_with(&format!("1{}", "0".repeat(399)), ""), App(422)),
        Case::new(Body, "quantity: 1e400", item("quantity", "1e400"), App(422)),
        Case::new(Body, "quantity: -1e400", item("quantity", "-1e400"), App(422)),
        Case::new(Body, "quantity: 1e999999999999999999999", item("quantity", "1e999999999999999999999"), App(422)),
        Case::new(Body, "quantity: 0e999999999999999999999", item("quantity", "0e999999999999999999999"), App(422)),
        Case::new(Body, "quantity: 1E+2", item("quantity", "1E+2"), App(422)),
        Case::new(Body, "quantity: -0", item("quantity", "-0"), App(422)),
        Case::new(Body, "unit_price: -0", item("unit_price", "-0"), App(422)),
        Case::new(Body, "unit_price: 1e-400 (underflows to 0)", item("unit_price", "1e-400"), App(422)),
        Case::new(Body, "unit_price: 9223372036854775807", item("unit_price", "9223372036854775807"), App(422)),
        Case::new(Body, "unit_price: 400 digits", item("unit_price", &"9".repeat(400)), App(422)),
        Case::new(Body, "email: 1e400", user(br#"{"email": 1e400, "name": "A"}"#), App(422)),
        Case::new(Body, "unknown field with 1e400", user(br#"{"email": "a@example.com", "name": "A", "total": 1e400}"#), App(422)),
        Case::new(Body, "quantity: NaN", item("quantity", "NaN"), App(400)),
        Case::new(Body, "unit_price: Infinity", item("unit_price", "Infinity"), App(400)),
        Case::new(Body, "quantity: 007 (leading zeros)", item("quantity", "007"), App(400)),
        Case::new(Body, "quantity: +1", item("quantity", "+1"), App(400)),
        Case::new(Body, "quantity: 0x10", item("quantity", "0x10"), App(400)),
        Case::new(Body, "quantity: 1e400 and the body unclosed", user(br#"{"email": "a@example.com", "name": "A", "x": 1e400"#), App(400)),
    ]
}

async fn hostile_bodies_are_refused_cleanly(app: TestApp) {
    let user_id = app.a_user().await;
    let order_id = app.create_order(user_id, crate::helpers::one_item()).await["id"]
        .as_i64()
        .unwrap();
    let mut battery = Battery::new(&app);
    battery.run(&app, encoding_cases(user_id, order_id)).await;
    battery.run(&app, nesting_cases(user_id)).await;
    battery.run(&app, number_cases(user_id)).await;
    battery.finish("bodies");
    // The renames and moves were refused.
    let user = app.get_json(&format!("{USERS}/{user_id}")).await;
    assert_eq!(user["name"], "Buyer");
    let order = app.get_json(&format!("{ORDERS}/{order_id}")).await;
    assert_eq!(order["status"], "pending");
    assert_still_serving(&app, "bodies").await;
}

crate::on_both_backends!(hostile_bodies_are_refused_cleanly);
