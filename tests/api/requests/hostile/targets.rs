//! The request target: hostile paths and query strings. What
//! `requests/targets.rs` already covers (`%00` in each query parameter,
//! `abc`, `1.5`, `0x10` as ids) is not repeated.

use super::{assert_still_serving, get, request, Battery, Case, Channel, Expect};
use crate::helpers::TestApp;

use Channel::{Path, Query};
use Expect::{App, Hyper};

#[rustfmt::skip] // A table: one case per line.
fn path_cases(user_id: i64) -> Vec<Case> {
    let long_digits = format!("/api/v1/users/{}", "1".repeat(10_000));
    let long_zeros = format!("/api/v1/users/{}", "0".repeat(10_000));
    let long_route = format!("/api/v1/{}", "a".repeat(10_000));
    vec![
        Case::new(Path, "raw byte 0xFF in an id", get(b"/api/v1/users/\xff"), Hyper(400)),
        Case::new(Path, "raw UTF-8 'é' in an id", get("/api/v1/users/\u{e9}"), App(400)),
        Case::new(Path, "%FF (not UTF-8) as an id", get("/api/v1/users/%FF"), App(400)),
        Case::new(Path, "%C0%AF (overlong '/') as an id", get("/api/v1/users/%C0%AF"), App(400)),
        Case::new(Path, "%ED%A0%80 (lone surrogate) as an id", get("/api/v1/users/%ED%A0%80"), App(400)),
        Case::new(Path, "1%ED%A0%80 after digits", get("/api/v1/orders/1%ED%A0%80"), App(400)),
        Case::new(Path, "raw NUL byte in an id", get(b"/api/v1/users/1\x00"), Hyper(400)),
        Case::new(Path, "raw control byte 0x01 in an id", get(b"/api/v1/users/\x01"), Hyper(400)),
        Case::new(Path, "raw space in the target", get("/api/v1/users/1 2"), Hyper(400)),
        Case::new(Path, "%01 as an id", get("/api/v1/users/%01"), App(400)),
        Case::new(Path, "1%0D%0A (CR LF) after an id", get("/api/v1/users/1%0D%0A"), App(400)),
        Case::new(Path, "%7F (DEL) as an id", get("/api/v1/orders/%7F"), App(400)),
        Case::new(Path, "%00 in a user's orders", get("/api/v1/users/%00/orders"), App(400)),
        Case::new(Path, "1' OR '1'='1 as an id", get("/api/v1/users/1'%20OR%20'1'='1"), App(400)),
        Case::new(Path, "1;DROP TABLE users as an id", get("/api/v1/users/1;DROP%20TABLE%20users"), App(400)),
        Case::new(Path, "1 OR 1=1 as an order id", get("/api/v1/orders/1%20OR%201=1"), App(400)),
        Case::new(Path, "'; DROP TABLE users; -- /orders", get("/api/v1/users/%27%3B%20DROP%20TABLE%20users%3B%20--/orders"), App(400)),
        Case::new(Path, "DELETE 1 OR 1=1", request("DELETE", b"/api/v1/users/1%20OR%201=1", &[], None), App(400)),
        Case::new(Path, "..%2F..%2Fetc%2Fpasswd as an id", get("/api/v1/users/..%2F..%2Fetc%2Fpasswd"), App(400)),
        Case::new(Path, "raw ../../etc/passwd", get("/api/v1/users/../../etc/passwd"), App(404)),
        Case::new(Path, "fullwidth digit %EF%BC%91 as an id", get("/api/v1/users/%EF%BC%91"), App(400)),
        Case::new(Path, "-0 as an id", get("/api/v1/users/-0"), App(400)),
        Case::new(Path, "184467440737095516160 (past 64 bits)", get("/api/v1/orders/184467440737095516160"), App(400)),
        Case::new(Path, "9223372036854775807 (i64::MAX)", get("/api/v1/users/9223372036854775807"), App(404)),
        Case::new(Path, "id of 10,000 digits", get(long_digits), App(400)),
        Case::new(Path, "id of 10,000 zeros (that is 0)", get(long_zeros), App(404)),
        Case::new(Path, "route of 10,000 characters", get(long_route), App(404)),
        Case::new(Path, "user's orders, id of 10,000 digits", get(format!("/api/v1/users/{}/orders", "9".repeat(10_000))), App(400)),
        Case::new(Path, "existing id with trailing %00", get(format!("/api/v1/users/{user_id}%00")), App(400)),
    ]
}

#[rustfmt::skip] // A table: one case per line.
fn query_cases(user_id: i64) -> Vec<Case> {
    let users = |query: &str| get(format!("/api/v1/users?{query}"));
    let orders = |query: &str| get(format!("/api/v1/orders?{query}"));
    let repeated = vec!["limit=1"; 1_000].join("&");
    vec![
        Case::new(Query, "raw byte 0xFF in email", get(b"/api/v1/users?email=\xff@example.com"), Hyper(400)),
        Case::new(Query, "limit=%FF", users("limit=%FF"), App(400)),
        Case::new(Query, "after=%ED%A0%80 (lone surrogate)", users("after=%ED%A0%80"), App(400)),
        Case::new(Query, "status=%ED%A0%80 (lone surrogate)", orders("status=%ED%A0%80"), App(400)),
        Case::new(Query, "user_id=%C0%80 (overlong NUL)", orders("user_id=%C0%80"), App(400)),
        Case::new(Query, "name %ED%A0%80=1 (lone surrogate)", users("%ED%A0%80=1"), App(400)),
        Case::new(Query, "raw NUL byte in email", get(b"/api/v1/users?email=a\x00@example.com"), Hyper(400)),
        Case::new(Query, "email=a%01@example.com", users("email=a%01@example.com"), App(400)),
        Case::new(Query, "email=%1B[31m (ANSI escape)", users("email=%1B%5B31m@example.com"), App(400)),
        Case::new(Query, "limit=%7F (DEL)", users("limit=%7F"), App(400)),
        Case::new(Query, "status=paid%0D%0AX-Injected: 1", orders("status=paid%0D%0AX-Injected:%201"), App(400)),
        Case::new(Query, "email=' OR '1'='1", users("email='%20OR%20'1'='1"), App(200)),
        Case::new(Query, "email='; DROP TABLE users; --", users("email=%27%3B%20DROP%20TABLE%20users%3B%20--"), App(200)),
        Case::new(Query, "email=%25 (LIKE wildcard)", users("email=%25"), App(200)),
        Case::new(Query, "email=_ (LIKE wildcard)", users("email=_"), App(200)),
        Case::new(Query, "email=\\ (backslash)", users("email=%5C"), App(200)),
        Case::new(Query, "email=\" (double quote)", users("email=%22"), App(200)),
        Case::new(Query, "user_id=1 OR 1=1", orders("user_id=1%20OR%201=1"), App(400)),
        Case::new(Query, "status=paid' OR '1'='1", orders("status=paid'%20OR%20'1'='1"), App(400)),
        Case::new(Query, "limit=1; DROP TABLE users", users("limit=1;%20DROP%20TABLE%20users"), App(400)),
        Case::new(Query, "after=' OR 1=1 --", users("after='%20OR%201=1%20--"), App(400)),
        Case::new(Query, "user_id=184467440737095516160", orders("user_id=184467440737095516160"), App(400)),
        Case::new(Query, "limit=1e400", users("limit=1e400"), App(400)),
        Case::new(Query, "limit=-0", users("limit=-0"), App(400)),
        Case::new(Query, "user_id=-0", orders("user_id=-0"), App(400)),
        Case::new(Query, "user_id=9223372036854775807 (nobody)", orders("user_id=9223372036854775807"), App(200)),
        Case::new(Query, "email of 10,000 characters", users(&format!("email={}", "a".repeat(10_000))), App(200)),
        Case::new(Query, "after of 10,000 characters", users(&format!("after={}", "A".repeat(10_000))), App(400)),
        Case::new(Query, "limit of 10,000 digits (9,999 zeros, 1)", users(&format!("limit={}1", "0".repeat(9_999))), App(200)),
        Case::new(Query, "parameter name of 10,000 characters", users(&format!("{}=1", "x".repeat(10_000))), App(400)),
        Case::new(Query, "limit=1 given 1,000 times", users(&repeated), App(400)),
        Case::new(Query, "status=%00 on a user's orders, 10,000 chars", get(format!("/api/v1/users/{user_id}/orders?status={}", "%00".repeat(3_333))), App(400)),
    ]
}

async fn hostile_paths_and_queries_are_refused_cleanly(app: TestApp) {
    let user_id = app.a_user().await;
    let mut battery = Battery::new(&app);
    battery.run(&app, path_cases(user_id)).await;
    battery.run(&app, query_cases(user_id)).await;
    battery.finish("paths and queries");
    assert_still_serving(&app, "targets").await;
}

crate::on_both_backends!(hostile_paths_and_queries_are_refused_cleanly);
