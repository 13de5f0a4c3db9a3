//! Request parsing and validation, exactly as the HTTP layer runs it: the
//! same `pub` functions the extractors and handlers call, fed arbitrary
//! bytes, with no database and no network. (Long: one fuzz target must
//! hold every channel and its checks.)
//!
//! The first byte picks the channel (`byte % 12`; the ASCII digits `0`..`9`,
//! then `:` and `;`, name channels 0 to 11, so seeds stay readable); the
//! rest is that channel's input:
//!
//! | byte | channel | rest of the input |
//! | --- | --- | --- |
//! | `0` | path id (`/users/{id}`) | the percent-decoded segment |
//! | `1` | `GET /users` query | the raw query string |
//! | `2` | `GET /orders` query | the raw query string |
//! | `3` | `GET /users/{id}/orders` query | the raw query string |
//! | `4` | `POST /users` body | the body |
//! | `5` | `PUT`/`PATCH /users/{id}` body | the body |
//! | `6` | `POST /orders` body | the body |
//! | `7` | `PUT`/`PATCH /orders/{id}` body | the body |
//! | `8` | `Idempotency-Key` | a length byte, the key, then the body |
//! | `9` | `If-Match` | header values, one per line |
//! | `:` | `Content-Type` | the header value |
//! | `;` | `after` cursor | 8 bytes of an id, then a cursor string |
//!
//! Besides "no panic", every channel checks what the contract promises:
//! accepted values respect its limits, a rejection is the error the HTTP
//! layer answers with 400 (paths, queries, headers, bodies that are not
//! JSON) or 422 (JSON that breaks a rule) and never anything else, parsing
//! the same input twice gives the same answer, and cursors round-trip.
//! Where the contract is simple enough to restate (ids, queries, order and
//! status bodies, keys, `If-Match`), an independent reading of it is the
//! oracle, in both directions.

#![no_main]

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use orderly::domain::order::{MAX_ITEMS, QUANTITY_MAX, SKU_MAX_CHARS, UNIT_PRICE_MAX};
use orderly::domain::page::{DEFAULT_LIMIT, MAX_LIMIT};
use orderly::domain::user::{EMAIL_MAX_CHARS, NAME_MAX_CHARS};
use orderly::domain::{Cursor, Email, OrderStatus, Precondition, Scope, UserName, Version};
use orderly::http::extract::{is_json, Id, IdempotencyHeader, IfMatch, JsonBody, QueryParams};
use orderly::http::{orders, users, ApiError};
use serde_json::Value;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let Some((&channel, rest)) = data.split_first() else {
        return;
    };
    match channel % 12 {
        0 => with_str(rest, path_id),
        1 => with_str(rest, |raw| query(raw, Route::Users)),
        2 => with_str(rest, |raw| query(raw, Route::Orders)),
        3 => with_str(rest, |raw| query(raw, Route::UserOrders)),
        4 => body(rest, Body::NewUser),
        5 => body(rest, Body::UserPatch),
        6 => body(rest, Body::NewOrder),
        7 => body(rest, Body::StatusChange),
        8 => idempotency_key(rest),
        9 => if_match(rest),
        10 => content_type(rest),
        _ => cursor(rest),
    }
});

/// Paths and query strings reach the parsers as `&str` (axum refuses a
/// path segment that does not decode to UTF-8 before our code runs).
fn with_str(bytes: &[u8], check: impl FnOnce(&str)) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        check(text);
    }
}

/// Parsing is a pure function of its input: two runs, one answer.
fn deterministic<T: std::fmt::Debug>(parse: impl Fn() -> T) -> T {
    let (first, second) = (parse(), parse());
    assert_eq!(
        format!("{first:?}"),
        format!("{second:?}"),
        "not deterministic"
    );
    first
}

fn assert_status(error: &ApiError, allowed: &[u16]) {
    let status = error.status().as_u16();
    assert!(
        allowed.contains(&status),
        "answered {status}, not one of {allowed:?}: {error:?}"
    );
    if let ApiError::Validation(errors) = error {
        assert!(!errors.is_empty(), "a 422 names no field");
        // A field is named as the client wrote it, so an unknown `""` is
        // reported as `""`; the message always says what is wrong.
        assert!(errors.iter().all(|e| !e.message.is_empty()));
    }
}

/// Decimal digits only, within `i64`: the contract's path and query ids.
fn contract_digits(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = raw.trim_start_matches('0');
    if significant.len() > 19 {
        return None;
    }
    let n: u64 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    i64::try_from(n).ok()
}

// ---- path ids ------------------------------------------------------------

fn path_id(raw: &str) {
    match deterministic(|| Id::parse(raw)) {
        Ok(Id(id)) => assert_eq!(Some(id), contract_digits(raw), "accepted id {raw:?}"),
        Err(e) => {
            assert_status(&e, &[400]);
            assert_eq!(contract_digits(raw), None, "rejected the id {raw:?}");
        }
    }
}

// ---- query strings -------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Route {
    Users,
    Orders,
    UserOrders,
}

impl Route {
    fn known(self) -> &'static [&'static str] {
        match self {
            Route::Users => &["limit", "after", "email"],
            Route::Orders => &["user_id", "status", "limit", "after"],
            Route::UserOrders => &["status", "limit", "after"],
        }
    }
}

/// `application/x-www-form-urlencoded` read from its definition: pairs split
/// on `&` (empty ones skipped), name and value on the first `=`, `+` is a
/// space, then percent-decoding; `None` when a piece is not UTF-8.
fn form_pairs(raw: &str) -> Option<Vec<(String, String)>> {
    let decode = |s: &str| {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            Some((decode(name)?, decode(value)?))
        })
        .collect()
}

/// What the contract says each known parameter may hold.
fn contract_value_ok(name: &str, value: &str) -> bool {
    match name {
        "limit" => contract_digits(value).is_some_and(|n| (1..=i64::from(MAX_LIMIT)).contains(&n)),
        "after" => Cursor::decode(value).is_ok(),
        "user_id" => contract_digits(value).is_some_and(|n| n >= 1),
        "status" => OrderStatus::ALL.iter().any(|s| s.as_str() == value),
        "email" => !value.trim().is_empty(),
        _ => false,
    }
}

/// The page every listing route reads, checked against the pairs.
fn check_page(page: &orderly::domain::PageRequest, pairs: &[(String, String)]) {
    let given = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = page.limit.get();
    assert!((1..=MAX_LIMIT).contains(&limit));
    match given("limit") {
        None => assert_eq!(limit, DEFAULT_LIMIT),
        Some(raw) => assert_eq!(contract_digits(raw), Some(i64::from(limit))),
    }
    assert_eq!(page.fetch_len(), i64::from(limit) + 1);
    match (given("after"), page.after) {
        (None, None) => {}
        (Some(raw), Some(cursor)) => {
            assert_eq!(Cursor::decode(raw), Ok(cursor));
            assert!(cursor.after_id >= 0);
            assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        }
        other => panic!("`after` given and parsed disagree: {other:?}"),
    }
}

fn query(raw: &str, route: Route) {
    let known = route.known();
    // The contract's reading: UTF-8, no control characters, each name known
    // and given once, each value valid.
    let pairs = form_pairs(raw);
    let contract_ok = pairs.as_ref().is_some_and(|pairs| {
        pairs.iter().enumerate().all(|(i, (name, value))| {
            !name.chars().chain(value.chars()).any(char::is_control)
                && known.contains(&name.as_str())
                && !pairs[..i].iter().any(|(n, _)| n == name)
                && contract_value_ok(name, value)
        })
    });

    let parsed = deterministic(|| QueryParams::parse(raw));
    let params = match parsed {
        Ok(params) => params,
        Err(e) => {
            assert_status(&e, &[400]);
            assert!(!contract_ok, "rejected the valid query {raw:?}: {e:?}");
            return;
        }
    };
    let pairs = pairs.expect("QueryParams accepted a query that is not UTF-8");
    for (name, value) in &pairs {
        assert!(
            !name.chars().chain(value.chars()).any(char::is_control),
            "a control character passed: {raw:?}"
        );
        if let Some(first) = params.get(name) {
            // `get` answers the first; `only` refuses repeats anyway.
            let expected = &pairs.iter().find(|(n, _)| n == name).unwrap().1;
            assert_eq!(first, expected, "`{name}` read differently in {raw:?}");
        }
    }

    let accepted = match route {
        Route::Users => deterministic(|| users::parse_list_query(&params)).map(|(page, email)| {
            check_page(&page, &pairs);
            if let Some(email) = email {
                assert!(!email.is_empty() && email == email.trim());
                assert!(!email.contains('\0'));
            }
        }),
        Route::Orders => {
            deterministic(|| orders::parse_list_query(&params)).map(|(page, filter)| {
                check_page(&page, &pairs);
                if let Some(id) = filter.user_id {
                    assert!(id >= 1);
                }
                check_status_filter(filter.status, &pairs);
            })
        }
        Route::UserOrders => {
            deterministic(|| orders::parse_user_list_query(&params)).map(|(page, status)| {
                check_page(&page, &pairs);
                check_status_filter(status, &pairs);
            })
        }
    };
    match accepted {
        Ok(()) => assert!(
            contract_ok,
            "accepted the invalid query {raw:?} for {route:?}"
        ),
        Err(e) => {
            assert_status(&e, &[400]);
            assert!(
                !contract_ok,
                "rejected the valid query {raw:?} for {route:?}: {e:?}"
            );
        }
    }
}

fn check_status_filter(status: Option<OrderStatus>, pairs: &[(String, String)]) {
    let given = pairs
        .iter()
        .find(|(n, _)| n == "status")
        .map(|(_, v)| v.as_str());
    assert_eq!(status.as_ref().map(OrderStatus::as_str), given);
}

// ---- bodies --------------------------------------------------------------

#[derive(Clone, Copy)]
enum Body {
    NewUser,
    UserPatch,
    NewOrder,
    StatusChange,
}

fn json_body(bytes: &[u8]) -> Option<JsonBody> {
    let parsed =
        deterministic(|| JsonBody::parse(Bytes::copy_from_slice(bytes)).map(|b| (b.value, b.raw)));
    match parsed {
        Ok((value, raw)) => {
            assert_eq!(raw, bytes, "the raw body must be kept byte for byte");
            Some(JsonBody { value, raw })
        }
        Err(e) => {
            // 422: well-formed JSON beyond the parser's limits (a number
            // past a double, nesting over 128 deep); anything else is 400.
            assert_status(&e, &[400, 422]);
            let blank = bytes.iter().all(u8::is_ascii_whitespace);
            assert!(
                blank || serde_json::from_slice::<Value>(bytes).is_err(),
                "refused JSON that parses"
            );
            None
        }
    }
}

fn body(bytes: &[u8], kind: Body) {
    let Some(body) = json_body(bytes) else { return };
    let value = body.value.clone();
    let again = || JsonBody {
        value: body.value.clone(),
        raw: body.raw.clone(),
    };
    match kind {
        Body::NewUser => match deterministic(|| users::parse_new_user(value.clone())) {
            Ok(user) => {
                let fields = object_with(&value, &["email", "name"], &["email", "name"]);
                check_email(user.email.as_str(), fields["email"]);
                check_name(user.name.as_str(), fields["name"]);
            }
            Err(e) => assert_status(&e, &[422]),
        },
        Body::UserPatch => match deterministic(|| users::parse_user_patch(again())) {
            Ok(patch) => {
                let fields = object_with(&value, &["email", "name"], &[]);
                assert!(
                    patch.email.is_some() || patch.name.is_some(),
                    "an empty patch"
                );
                assert_eq!(patch.email.is_some(), fields.contains_key("email"));
                assert_eq!(patch.name.is_some(), fields.contains_key("name"));
                if let Some(email) = &patch.email {
                    check_email(email.as_str(), fields["email"]);
                }
                if let Some(name) = &patch.name {
                    check_name(name.as_str(), fields["name"]);
                }
            }
            Err(e) => assert_status(&e, &[422]),
        },
        Body::NewOrder => {
            let contract = contract_order(&value);
            match deterministic(|| orders::parse_new_order(value.clone())) {
                Ok(order) => {
                    let expected = contract.unwrap_or_else(|why| {
                        panic!(
                            "accepted an order the contract refuses ({why}): {}",
                            short(&value)
                        )
                    });
                    let items: Vec<_> = order
                        .items()
                        .iter()
                        .map(|i| {
                            (
                                i.sku.as_str().to_owned(),
                                i64::from(i.quantity.get()),
                                i.unit_price.get(),
                            )
                        })
                        .collect();
                    assert_eq!(order.user_id(), expected.user_id);
                    assert_eq!(
                        order.currency().as_str(),
                        expected.currency.as_deref().unwrap_or("USD")
                    );
                    assert_eq!(items, expected.items);
                    assert_eq!(i128::from(order.total()), expected.total);
                    assert!(order.total() >= 0);
                }
                Err(e) => {
                    assert_status(&e, &[422]);
                    // Which three-letter codes ISO 4217 knows is the one
                    // thing this oracle does not restate.
                    if let Ok(expected) = contract {
                        let common = ["USD", "EUR", "GBP", "JPY", "CHF"];
                        assert!(
                            expected
                                .currency
                                .as_deref()
                                .is_some_and(|c| !common.contains(&c)),
                            "refused a valid order: {} ({e:?})",
                            short(&value)
                        );
                    }
                }
            }
        }
        Body::StatusChange => {
            let contract = value
                .as_object()
                .filter(|map| map.len() == 1)
                .and_then(|map| map.get("status")?.as_str())
                .and_then(|s| OrderStatus::ALL.into_iter().find(|t| t.as_str() == s));
            match deterministic(|| orders::parse_status_change(again())) {
                Ok(status) => assert_eq!(Some(status), contract, "accepted {}", short(&value)),
                Err(e) => {
                    assert_status(&e, &[422]);
                    assert_eq!(contract, None, "refused {}", short(&value));
                }
            }
        }
    }
}

/// A body for a failure message: the start of it.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(300) {
        Some((end, _)) => format!("{}... ({} bytes)", &text[..end], text.len()),
        None => text,
    }
}

/// An accepted body is an object with only `known` keys, `required` among
/// them, none null.
fn object_with<'a>(
    value: &'a Value,
    known: &[&str],
    required: &[&str],
) -> std::collections::BTreeMap<&'a str, &'a Value> {
    let map = value
        .as_object()
        .expect("accepted a body that is not an object");
    for (key, v) in map {
        assert!(
            known.contains(&key.as_str()),
            "accepted unknown field {key:?}"
        );
        assert!(!v.is_null(), "accepted null for {key:?}");
    }
    for key in required {
        assert!(map.contains_key(*key), "accepted a body without {key:?}");
    }
    map.iter().map(|(k, v)| (k.as_str(), v)).collect()
}

/// No NUL, no control character, and (Rust strings being UTF-8) no lone
/// surrogate can reach storage.
fn storable(s: &str) {
    assert!(
        !s.chars().any(char::is_control),
        "control character in {s:?}"
    );
}

fn check_email(email: &str, given: &Value) {
    let given = given
        .as_str()
        .expect("accepted an e-mail that is not a string");
    assert_eq!(
        email,
        given.trim(),
        "the e-mail must be stored as given, trimmed"
    );
    assert!((1..=EMAIL_MAX_CHARS).contains(&email.chars().count()));
    storable(email);
    assert!(!email.chars().any(char::is_whitespace));
    let (local, domain) = email.rsplit_once('@').expect("an e-mail without @");
    assert!(!local.is_empty());
    assert!(domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'));
    // What the database stores is read back and must parse the same.
    assert_eq!(
        Email::parse(email).map(|e| e.as_str().to_owned()),
        Ok(email.to_owned())
    );
}

fn check_name(name: &str, given: &Value) {
    let given = given
        .as_str()
        .expect("accepted a name that is not a string");
    assert_eq!(
        name,
        given.trim(),
        "the name must be stored as given, trimmed"
    );
    assert!((1..=NAME_MAX_CHARS).contains(&name.chars().count()));
    storable(name);
    assert_eq!(
        UserName::parse(name).map(|n| n.as_str().to_owned()),
        Ok(name.to_owned())
    );
}

#[derive(Debug)]
struct ContractOrder {
    user_id: i64,
    currency: Option<String>,
    items: Vec<(String, i64, i64)>,
    total: i128,
}

/// `POST /api/v1/orders` as the contract words it, written apart from the
/// service's reader.
fn contract_order(value: &Value) -> Result<ContractOrder, &'static str> {
    let map = value.as_object().ok_or("not an object")?;
    if map
        .keys()
        .any(|k| !["user_id", "currency", "items"].contains(&k.as_str()))
    {
        return Err("unknown field");
    }
    let user_id = map
        .get("user_id")
        .and_then(Value::as_i64)
        .ok_or("user_id")?;
    if user_id < 1 {
        return Err("user_id < 1");
    }
    let currency = match map.get("currency") {
        None => None,
        Some(Value::String(c)) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => {
            Some(c.clone())
        }
        Some(_) => return Err("currency"),
    };
    let lines = map.get("items").and_then(Value::as_array).ok_or("items")?;
    if !(1..=MAX_ITEMS).contains(&lines.len()) {
        return Err("item count");
    }
    let mut items = Vec::new();
    for line in lines {
        let line = line.as_object().ok_or("item not an object")?;
        if line
            .keys()
            .any(|k| !["sku", "quantity", "unit_price"].contains(&k.as_str()))
        {
            return Err("unknown item field");
        }
        let sku = line.get("sku").and_then(Value::as_str).ok_or("sku")?;
        let printable = !sku.chars().any(char::is_control) && !sku.trim().is_empty();
        if !(1..=SKU_MAX_CHARS).contains(&sku.chars().count()) || !printable {
            return Err("sku");
        }
        let quantity = line
            .get("quantity")
            .and_then(Value::as_i64)
            .ok_or("quantity")?;
        if !(1..=QUANTITY_MAX).contains(&quantity) {
            return Err("quantity");
        }
        let price = line
            .get("unit_price")
            .and_then(Value::as_i64)
            .ok_or("unit_price")?;
        if !(0..=UNIT_PRICE_MAX).contains(&price) {
            return Err("unit_price");
        }
        items.push((sku.to_owned(), quantity, price));
    }
    let total = items
        .iter()
        .map(|(_, q, p)| i128::from(*q) * i128::from(*p))
        .sum();
    Ok(ContractOrder {
        user_id,
        currency,
        items,
        total,
    })
}

// ---- headers -------------------------------------------------------------

fn idempotency_key(rest: &[u8]) {
    let Some((&len, rest)) = rest.split_first() else {
        return;
    };
    let (key, body) = rest.split_at(usize::from(len).min(rest.len()));
    // Hyper never hands over a header value that `HeaderValue` refuses.
    let Ok(value) = HeaderValue::from_bytes(key) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert("idempotency-key", value);
    let json = JsonBody {
        value: Value::Null,
        raw: Bytes::copy_from_slice(body),
    };
    let contract_ok =
        !key.is_empty() && key.len() <= 255 && key.iter().all(|b| (0x20..0x7f).contains(b));
    let parsed = deterministic(|| {
        IdempotencyHeader::from_headers(&headers, 7)?.parse(Scope::CreateOrder, &json)
    });
    match parsed {
        Ok(Some(parsed)) => {
            assert!(contract_ok, "accepted the key {key:?}");
            assert_eq!(parsed.key.as_bytes(), key);
            assert_eq!(parsed.owner, 7, "the key belongs to the API key that sent it");
            assert_eq!(parsed.fingerprint, Sha256::digest(body).to_vec());
        }
        Ok(None) => panic!("a key was sent and none was read"),
        Err(e) => {
            assert_status(&e, &[400]);
            assert!(!contract_ok, "refused the key {key:?}");
        }
    }
}

fn if_match(rest: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in rest.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(header::IF_MATCH, value);
        }
    }
    let IfMatch(precondition) = deterministic(|| IfMatch::from_headers(&headers));
    let tags: Vec<&str> = headers
        .get_all(header::IF_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let wildcard = tags.contains(&"*");
    match precondition {
        Precondition::None => assert!(
            headers.is_empty() || wildcard,
            "{tags:?} made no precondition"
        ),
        Precondition::AnyOf(versions) => {
            assert!(!headers.is_empty() && !wildcard);
            // Exactly the strong tags this service issues, `"v<micros>"`.
            let issued: Vec<Version> = tags
                .iter()
                .filter_map(|t| contract_digits(t.strip_prefix("\"v")?.strip_suffix('"')?))
                .map(Version)
                .collect();
            assert_eq!(versions, issued, "{tags:?}");
            for v in &versions {
                assert_eq!(Version::from_etag(&v.etag()), Some(*v));
                assert!(Precondition::AnyOf(versions.clone()).allows(*v));
            }
            if versions.is_empty() {
                // Made-up tags match nothing: 412.
                assert!(!Precondition::AnyOf(versions).allows(Version(0)));
            }
        }
    }
}

fn content_type(rest: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(rest) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, value);
    if deterministic(|| is_json(&headers)) {
        let text = headers[header::CONTENT_TYPE]
            .to_str()
            .expect("accepted a non-ASCII type");
        let mut parts = text.split(';');
        let essence = parts.next().unwrap_or("").trim();
        assert!(
            essence.eq_ignore_ascii_case("application/json"),
            "accepted {text:?}"
        );
        for param in parts.map(|p| p.replace([' ', '\t', '"'], "")) {
            assert!(
                param.is_empty() || param.eq_ignore_ascii_case("charset=utf-8"),
                "accepted {text:?}"
            );
        }
    }
}

// ---- cursors -------------------------------------------------------------

fn cursor(rest: &[u8]) {
    let mut text = rest;
    if rest.len() >= 8 {
        let (id, tail) = rest.split_at(8);
        text = tail;
        let after_id = i64::from_le_bytes(id.try_into().unwrap()) & i64::MAX;
        let issued = Cursor { after_id };
        let encoded = issued.encode();
        assert_eq!(Cursor::decode(&encoded), Ok(issued));
        // A client pastes `next_cursor` into a URL as is.
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let params = QueryParams::parse(&format!("after={encoded}")).expect("a cursor as a query");
        let page = params.page().expect("an issued cursor is a valid page");
        assert_eq!(page.after, Some(issued));
    }
    with_str(text, |raw| match deterministic(|| Cursor::decode(raw)) {
        Ok(cursor) => {
            assert!(cursor.after_id >= 0);
            assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        }
        Err(message) => assert!(!message.is_empty()),
    });
}
