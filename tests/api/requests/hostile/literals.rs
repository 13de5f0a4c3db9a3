//! Values that look like SQL or LIKE patterns, and tricks of Unicode: where
//! the rules allow them they are stored and returned literally (the GET
//! gives back the very string sent), filters compare them literally, and
//! the tables are all still there with the rows expected. (Long by
//! nature: a table of cases.)

use serde_json::{json, Value};

use super::{assert_still_serving, Battery, Channel, Rows};
use crate::helpers::{header, one_item, TestApp};

const USERS: &str = "/api/v1/users";
const ORDERS: &str = "/api/v1/orders";

const SQL_NAMES: &[&str] = &[
    "'; DROP TABLE users; --",
    "' OR '1'='1",
    "Robert'); DROP TABLE orders;--",
    "' UNION SELECT email, name FROM users --",
    "1; DELETE FROM users WHERE 1=1",
    r#"\""#,
    r#"""#,
    r"\",
    r"\\'",
    "%",
    "_",
    "%_%",
    "$1",
    "?",
    ":name",
    "/* comment */ --",
    "`backtick`",
    "\u{1F600} emoji",
    "\u{202E}RTL override",
    "zero\u{200B}width",
    "\u{FEFF}BOM first",
    "Z\u{0324}\u{0354}a\u{0308}lgo",
    "\u{10FFFF} last code point",
];

const SQL_SKUS: &[&str] = &[
    "'; DROP TABLE order_items; --",
    "' OR '1'='1",
    r"\",
    r#"\""#,
    "%",
    "_",
    "\u{1F600}",
    "\u{202E}KCAB",
    "a\u{200B}b",
];

/// E-mail addresses with quotes and LIKE wildcards that are still plausible
/// addresses: each is created, and then found by exactly itself.
const SQL_EMAILS: &[&str] = &[
    "o'brien@example.com",
    "'or'1'='1@example.com",
    "%@example.com",
    "_@example.com",
    "a_b@example.com",
    "axb@example.com",
    "a%b@example.com",
];

/// Quotes and SQL that no plausible address holds: 422 on `email`.
const SQL_EMAILS_REFUSED: &[&str] = &[
    "a\\b@example.com",
    "'; DROP TABLE users; --@example.com",
    "\" OR 1=1 --\"@example.com",
    "admin@example.com' --",
    "admin@example.com\"",
    "%",
];

const SQL_KEYS: &[&str] = &[
    "'; DROP TABLE orderly_idempotency_keys; --",
    "%",
    "_",
    "' OR '1'='1",
];

/// Creates a user and checks that the answer and a GET give back `email`
/// and `name` as sent; returns the status and the id if created.
pub async fn create_and_read_back(
    app: &TestApp,
    email: &str,
    name: &str,
) -> (u16, Option<i64>, Option<String>) {
    let resp = app
        .post_json(USERS, &json!({"email": email, "name": name}))
        .await;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("a JSON answer");
    if status != 201 {
        return (status, None, None);
    }
    let id = body["id"].as_i64().expect("an id");
    let read = app.get_json(&format!("{USERS}/{id}")).await;
    let literal = [&body, &read]
        .iter()
        .all(|u| u["email"].as_str() == Some(email) && u["name"].as_str() == Some(name));
    let failure =
        (!literal).then(|| format!("not returned literally: created {body}, read {read}"));
    (status, Some(id), failure)
}

/// The ids `GET /users?email=` finds for `raw_query` (already encoded).
pub async fn ids_for_email(app: &TestApp, raw_query: &str) -> Vec<i64> {
    let page = app.get_json(&format!("{USERS}?email={raw_query}")).await;
    crate::helpers::page_ids(&page)
}

pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Records one refusal: 422 naming `field`, and nothing written.
async fn record_refusal(
    app: &TestApp,
    battery: &mut Battery,
    input: String,
    resp: reqwest::Response,
    field: &str,
    before: Rows,
) {
    let status = resp.status().as_u16();
    let problem: Value = resp.json().await.expect("a problem");
    let mut failure = (status != 422 || problem["errors"][0]["field"] != field)
        .then(|| format!("{status} {problem}"));
    if Rows::of(&app.db_pool).await != before {
        failure.get_or_insert("rows changed".into());
    }
    battery.record(
        Channel::Body,
        &input,
        &format!("{status} problem+json"),
        failure,
    );
}

async fn names_round_trip(app: &TestApp, battery: &mut Battery) {
    for (i, name) in SQL_NAMES.iter().enumerate() {
        let email = format!("name{i}@example.com");
        let (status, _, mut failure) = create_and_read_back(app, &email, name).await;
        if status != 201 {
            failure = Some(format!("status {status}, expected 201"));
        }
        let outcome = format!("{status} round-trip");
        battery.record(Channel::Body, &format!("name {name:?}"), &outcome, failure);
    }
}

/// Creates the `SQL_EMAILS` (and refuses the others); each address then
/// finds exactly itself, in any letter case, and a pattern finds only an
/// address that is literally the pattern. Returns the ids created.
async fn emails_find_exactly_themselves(app: &TestApp, battery: &mut Battery) -> Vec<i64> {
    let mut ids = Vec::new();
    for email in SQL_EMAILS {
        let (status, id, mut failure) = create_and_read_back(app, email, "Literal").await;
        if status != 201 {
            failure = Some(format!("status {status}, expected 201"));
        }
        ids.push(id.unwrap_or_default());
        let outcome = format!("{status} round-trip");
        battery.record(
            Channel::Body,
            &format!("email {email:?}"),
            &outcome,
            failure,
        );
    }
    for email in SQL_EMAILS_REFUSED {
        let before = Rows::of(&app.db_pool).await;
        let body = json!({"email": email, "name": "Refused"});
        let resp = app.post_json(USERS, &body).await;
        record_refusal(
            app,
            battery,
            format!("email {email:?}"),
            resp,
            "email",
            before,
        )
        .await;
    }
    for (email, id) in SQL_EMAILS.iter().zip(&ids) {
        for query in [email.to_string(), email.to_uppercase()] {
            let found = ids_for_email(app, &encode(&query)).await;
            let failure = (found != [*id]).then(|| format!("found {found:?}, expected [{id}]"));
            battery.record(
                Channel::Query,
                &format!("email={query}"),
                "200 exactly one",
                failure,
            );
        }
    }
    for pattern in [
        "' OR '1'='1",
        "%",
        "_",
        "%@example.com",
        "_@%",
        "a%",
        "%' --",
        "\\",
    ] {
        let found = ids_for_email(app, &encode(pattern)).await;
        let literal: Vec<i64> = SQL_EMAILS
            .iter()
            .zip(&ids)
            .filter(|(email, _)| email.eq_ignore_ascii_case(pattern))
            .map(|(_, id)| *id)
            .collect();
        let failure = (found != literal).then(|| format!("found {found:?}, expected {literal:?}"));
        let outcome = format!("200 {} found", found.len());
        battery.record(
            Channel::Query,
            &format!("email={pattern}"),
            &outcome,
            failure,
        );
    }
    ids
}

async fn skus_round_trip(app: &TestApp, battery: &mut Battery, user_id: i64) {
    for sku in SQL_SKUS {
        let items = json!([{"sku": sku, "quantity": 1, "unit_price": 1}]);
        let resp = app
            .post_json(ORDERS, &json!({"user_id": user_id, "items": items}))
            .await;
        let status = resp.status().as_u16();
        let created: Value = resp.json().await.expect("an order");
        let read = app.get_json(&format!("{ORDERS}/{}", created["id"])).await;
        let literal = [&created, &read]
            .iter()
            .all(|order| order["items"][0]["sku"].as_str() == Some(sku));
        let failure = match (status, literal) {
            (201, true) => None,
            (201, false) => Some(format!("not returned literally: {read}")),
            _ => Some(format!("status {status}, expected 201")),
        };
        let outcome = format!("{status} round-trip");
        battery.record(Channel::Body, &format!("sku {sku:?}"), &outcome, failure);
    }
}

/// Currencies and statuses are closed sets: what looks like SQL is 422.
async fn closed_sets_refuse_sql(app: &TestApp, battery: &mut Battery, user_id: i64) {
    let order_id = app.create_order(user_id, one_item()).await["id"]
        .as_i64()
        .expect("an id");
    for currency in [
        "'; DROP TABLE orders; --",
        "US'",
        "%",
        "_SD",
        "\u{FF35}\u{FF33}\u{FF24}",
    ] {
        let before = Rows::of(&app.db_pool).await;
        let body = json!({"user_id": user_id, "currency": currency, "items": one_item()});
        let resp = app.post_json(ORDERS, &body).await;
        record_refusal(
            app,
            battery,
            format!("currency {currency:?}"),
            resp,
            "currency",
            before,
        )
        .await;
    }
    for status in ["paid'; --", "' OR '1'='1", "PAID", "%", "paid "] {
        let before = Rows::of(&app.db_pool).await;
        let path = format!("{ORDERS}/{order_id}");
        let body = json!({"status": status});
        let resp = app
            .send_json(reqwest::Method::PATCH, &path, &body, None)
            .await;
        record_refusal(
            app,
            battery,
            format!("status {status:?}"),
            resp,
            "status",
            before,
        )
        .await;
    }
    let order = app.get_json(&format!("{ORDERS}/{order_id}")).await;
    assert_eq!(order["status"], "pending");
}

/// Idempotency keys are compared as they are: `_` is not `%`. Each key
/// creates its own user and replays it.
async fn keys_are_compared_literally(app: &TestApp, battery: &mut Battery) {
    let mut ids = Vec::new();
    for (i, key) in SQL_KEYS.iter().enumerate() {
        let body = format!(r#"{{"email": "key{i}@example.com", "name": "Key"}}"#);
        let first = app.post_with_key(USERS, key, &body).await;
        let again = app.post_with_key(USERS, key, &body).await;
        let statuses = (first.status().as_u16(), again.status().as_u16());
        let replayed = header(&again, "idempotent-replayed");
        let first: Value = first.json().await.expect("a user");
        let again: Value = again.json().await.expect("a user");
        ids.push(first["id"].as_i64().unwrap_or_default());
        let failure = (statuses != (201, 201) || replayed != "true" || first != again)
            .then(|| format!("{statuses:?} replayed={replayed:?}"));
        let input = format!("Idempotency-Key {key:?}, twice");
        battery.record(Channel::Header, &input, "201 then 201 replayed", failure);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), SQL_KEYS.len(), "one user per key: {ids:?}");
}

async fn sql_looking_values_are_stored_and_returned_literally(app: TestApp) {
    let mut battery = Battery::new(&app);
    let start = Rows::of(&app.db_pool).await;
    names_round_trip(&app, &mut battery).await;
    let user_id = emails_find_exactly_themselves(&app, &mut battery).await[0];
    skus_round_trip(&app, &mut battery, user_id).await;
    closed_sets_refuse_sql(&app, &mut battery, user_id).await;
    keys_are_compared_literally(&app, &mut battery).await;
    battery.finish("literal values");

    // Every table is still there, holding exactly what was created.
    let users = SQL_NAMES.len() + SQL_EMAILS.len() + SQL_KEYS.len();
    let orders = SQL_SKUS.len() + 1;
    let expected = Rows {
        users: start.users + users as i64,
        orders: start.orders + orders as i64,
        order_items: start.order_items + orders as i64,
        idempotency_keys: start.idempotency_keys + SQL_KEYS.len() as i64,
    };
    assert_eq!(Rows::of(&app.db_pool).await, expected);
    assert_still_serving(&app, "literals").await;
}

crate::on_both_backends!(sql_looking_values_are_stored_and_returned_literally);
