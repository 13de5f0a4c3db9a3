//! E-mail addresses beyond ASCII: internationalised names and domains,
//! right-to-left overrides, zero-width and full-width characters.

use serde_json::json;

use super::literals::{create_and_read_back, encode, ids_for_email};
use super::{assert_still_serving, Battery, Channel, Rows};
use crate::helpers::TestApp;

const USERS: &str = "/api/v1/users";

/// Addresses beyond ASCII. The contract asks for a plausible `local@domain`
/// with a dot in the domain; whatever the verdict, it is a clean 201 (and
/// then the address round-trips and finds itself) or a 422 on `email`.
const UNICODE_EMAILS: &[&str] = &[
    "\u{FC}@example.com",
    "user@b\u{FC}cher.example",
    "user@xn--bcher-kva.example",
    "\u{7528}\u{6237}@\u{4F8B}\u{5B50}.\u{5E7F}\u{544A}",
    "\u{627}\u{644}\u{639}\u{631}\u{628}\u{64A}\u{629}@example.com",
    "\u{202E}moc.elpmaxe@evil",
    "\u{202E}admin@example.com",
    "admin\u{200B}@example.com",
    "admin@exa\u{200D}mple.com",
    "\u{FEFF}admin@example.com",
    "\u{FF41}\u{FF44}\u{FF4D}\u{FF49}\u{FF4E}@example.com",
    "admin\u{FF20}example.com",
    "admin@example\u{3002}com",
    "\u{1F600}@example.com",
    "e\u{301}@example.com",
];

async fn unicode_emails_are_201_or_422_and_round_trip_literally(app: TestApp) {
    let mut battery = Battery::new(&app);
    for email in UNICODE_EMAILS {
        let before = Rows::of(&app.db_pool).await;
        // The verdict is the address rule's (`Email::parse`): this checks
        // that the HTTP layer and storage carry it out, and no other.
        let expected = match orderly::domain::Email::parse(email) {
            Ok(_) => 201,
            Err(_) => 422,
        };
        let (status, id, mut failure) = create_and_read_back(&app, email, "Unicode").await;
        if status != expected {
            failure = Some(format!("status {status}, expected {expected}"));
        }
        match (status, id) {
            (201, Some(id)) => {
                let found = ids_for_email(&app, &encode(email)).await;
                if found != [id] && failure.is_none() {
                    failure = Some(format!("the filter found {found:?}"));
                }
            }
            (422, _) => {
                if Rows::of(&app.db_pool).await != before {
                    failure = Some("rows changed".into());
                }
            }
            _ => failure = Some(format!("status {status}, expected 201 or 422")),
        }
        let outcome = if status == 201 {
            "201 round-trip"
        } else {
            "422 problem+json"
        };
        battery.record(Channel::Body, &format!("email {email:?}"), outcome, failure);
    }
    // Case-insensitive uniqueness beyond ASCII is the database's `lower()`:
    // 409 where it folds Ü to ü (PostgreSQL in a UTF-8 locale), 201 where
    // it folds ASCII only (SQLite, PostgreSQL's C locale).
    let folds = app
        .db_pool
        .scalar("SELECT CAST(CASE WHEN lower('\u{DC}') = '\u{FC}' THEN 1 ELSE 0 END AS BIGINT)")
        .await
        == 1;
    let expected = if folds { 409 } else { 201 };
    let upper = "\u{DC}@example.com";
    let resp = app
        .post_json(USERS, &json!({"email": upper, "name": "Upper"}))
        .await;
    let status = resp.status().as_u16();
    let failure = (status != expected).then(|| format!("status {status}, expected {expected}"));
    let outcome = format!("{status} (after {:?})", UNICODE_EMAILS[0]);
    battery.record(
        Channel::Body,
        &format!("email {upper:?}"),
        &outcome,
        failure,
    );
    battery.finish("unicode emails");
    assert_still_serving(&app, "unicode").await;
}

crate::on_both_backends!(unicode_emails_are_201_or_422_and_round_trip_literally);
