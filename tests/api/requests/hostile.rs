//! A hostile-input battery (issue 9, item 2): every input channel (path,
//! query, headers, body, and the framing of the message itself) fed bytes a
//! careless client or an attacker would send, over real HTTP on the app's
//! real port, on both backends.
//!
//! `targets`, `headers`, `bodies` and `framing` list their cases as
//! (channel, input, expected) rows. A row's request goes out byte for byte
//! over a raw TCP connection (a client library would refuse or repair most
//! of these inputs), every read under a deadline, and the answer is
//! checked: the exact status the row expects (no row expects a 5xx),
//! problem+json whenever the app answers an error (hyper's own
//! connection-level 400 and 431 have no body, and the rows say so), and no
//! row written by a rejected request. `literals` and `unicode` send values
//! that are valid but look like SQL, LIKE patterns or Unicode tricks, and
//! check they come back literally. Every test ends by checking that the
//! probes answer 200 and a normal create and read still work.
//!
//! One line per case is printed, and a tally per test; see them with
//! `cargo nextest run -E 'test(/hostile::/)' --no-capture`.

mod bodies;
mod framing;
mod headers;
mod literals;
mod targets;
mod unicode;
mod wire;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::helpers::{DbPool, TestApp};
pub use wire::{connect, exchange, get, read_answers, request, send_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Channel {
    Path,
    Query,
    Header,
    Body,
    Framing,
}

/// What a case must be answered.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// The app answers this status (problem+json when it is an error).
    App(u16),
    /// hyper refuses the message before the app sees it: this status and
    /// an empty body.
    Hyper(u16),
}

/// One row of the battery.
pub struct Case {
    pub channel: Channel,
    pub input: String,
    pub request: Vec<u8>,
    pub expect: Expect,
}

impl Case {
    pub fn new(
        channel: Channel,
        input: impl Into<String>,
        request: Vec<u8>,
        expect: Expect,
    ) -> Self {
        Self {
            channel,
            input: input.into(),
            request,
            expect,
        }
    }
}

/// Rows in every table, to show a rejection wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    pub users: i64,
    pub orders: i64,
    pub order_items: i64,
    pub idempotency_keys: i64,
}

impl Rows {
    pub async fn of(db: &DbPool) -> Self {
        Self {
            users: db.count("users").await,
            orders: db.count("orders").await,
            order_items: db.count("order_items").await,
            idempotency_keys: db.count("orderly_idempotency_keys").await,
        }
    }
}

/// The outcomes of one test's cases: printed one line each, tallied per
/// channel and status, and failed together at the end.
pub struct Battery {
    backend: &'static str,
    tally: BTreeMap<Channel, BTreeMap<String, usize>>,
    failures: Vec<String>,
}

impl Battery {
    pub fn new(app: &TestApp) -> Self {
        let backend = match app.db_pool {
            DbPool::Postgres(_) => "postgres",
            DbPool::Sqlite(_) => "sqlite",
        };
        Self {
            backend,
            tally: BTreeMap::new(),
            failures: Vec::new(),
        }
    }

    /// Records one case: `outcome` as seen, `failure` if it broke a rule.
    pub fn record(
        &mut self,
        channel: Channel,
        input: &str,
        outcome: &str,
        failure: Option<String>,
    ) {
        let mark = if failure.is_some() { "FAIL" } else { "ok" };
        let mut line = format!(
            "hostile {:<8} {:<7} {:<62} -> {outcome} [{mark}]",
            self.backend,
            format!("{channel:?}").to_lowercase(),
            input,
        );
        if let Some(failure) = &failure {
            let _ = write!(line, " {failure}");
            self.failures
                .push(format!("{channel:?} {input}: {failure}"));
        }
        println!("{line}");
        let status = outcome.split(' ').next().unwrap_or("?").to_owned();
        *self
            .tally
            .entry(channel)
            .or_default()
            .entry(status)
            .or_default() += 1;
    }

    /// Runs the table: each case on its own connection, with the rows
    /// compared before and after every rejection.
    pub async fn run(&mut self, app: &TestApp, cases: Vec<Case>) {
        for case in cases {
            let before = Rows::of(&app.db_pool).await;
            let exchange = exchange(app, &case.request).await;
            let (outcome, mut failure) = match exchange.answers.as_slice() {
                [answer] => (answer.describe(), answer.mismatch(case.expect)),
                [] => (
                    "no answer".into(),
                    Some(format!("no answer (closed: {})", exchange.closed)),
                ),
                more => (
                    format!("{} answers", more.len()),
                    Some("more than one answer".into()),
                ),
            };
            let rejected = exchange.answers.first().is_none_or(|a| a.status >= 400);
            if rejected {
                let after = Rows::of(&app.db_pool).await;
                if after != before && failure.is_none() {
                    failure = Some(format!("rows changed: {before:?} -> {after:?}"));
                }
            }
            self.record(case.channel, &case.input, &outcome, failure);
        }
    }

    /// Prints the tally and fails the test if any case failed.
    pub fn finish(self, test: &str) {
        let total: usize = self.tally.values().flat_map(|t| t.values()).sum();
        let mut summary = format!("hostile {} {test}: {total} cases", self.backend);
        for (channel, statuses) in &self.tally {
            let count: usize = statuses.values().sum();
            let spread: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}x{n}")).collect();
            let _ = write!(summary, "; {channel:?} {count} ({})", spread.join(" "));
        }
        println!("{summary}");
        assert!(
            self.failures.is_empty(),
            "{} of {total} hostile cases failed:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// The closing check of every test: the probes answer 200, and a normal
/// create and read still work.
pub async fn assert_still_serving(app: &TestApp, tag: &str) {
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "healthz after {tag}"
    );
    assert_eq!(app.get("/readyz").await.status(), 200, "readyz after {tag}");
    let email = format!("still-serving-{tag}@example.com");
    let user = app.create_user(&email, "Still serving").await;
    let read = app.get_json(&format!("/api/v1/users/{}", user["id"])).await;
    assert_eq!(read, user, "a normal create and read after {tag}");
}
