//! The framing of the message: `Content-Length` against `Transfer-Encoding`
//! (request smuggling), conflicting lengths, broken chunks, bodies that stop
//! short, and bodies too slow for the request timeout. Sent on keep-alive
//! connections: after each, no second (smuggled) request may be answered or
//! executed, and a fresh connection is served.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use orderly::config::Settings;

use super::{assert_still_serving, connect, read_answers, Battery, Channel, Expect, Rows};
use crate::helpers::TestApp;

use Expect::{App, Hyper};

const VALID: &str = r#"{"email": "framed@example.com", "name": "Framed"}"#;

/// A complete request that creates a user: if a framing case lets it
/// through, a row appears.
fn smuggled() -> String {
    let body = r#"{"email": "smuggled@example.com", "name": "Smuggled"}"#;
    format!(
        "POST /api/v1/users HTTP/1.1\r\nhost: orderly.test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A keep-alive POST of users with `head` (header lines, each ending in
/// CRLF) and `body`, exactly as given.
fn post(version: &str, head: &str, body: &str) -> Vec<u8> {
    format!("POST /api/v1/users HTTP/{version}\r\nhost: orderly.test\r\ncontent-type: application/json\r\n{head}\r\n{body}")
        .into_bytes()
}

struct FramingCase {
    input: &'static str,
    raw: Vec<u8>,
    /// Half-close the connection after writing (the client is done).
    half_close: bool,
    expect: Expect,
}

fn case(input: &'static str, raw: Vec<u8>, expect: Expect) -> FramingCase {
    FramingCase {
        input,
        raw,
        half_close: false,
        expect,
    }
}

#[rustfmt::skip] // A table: one case per line.
fn cases() -> Vec<FramingCase> {
    let smuggled = smuggled();
    let cl_te_body = format!("0\r\n\r\n{smuggled}");
    let cl_te = |te: &str| {
        format!(
            "content-length: {}\r\ntransfer-encoding: {te}\r\n",
            cl_te_body.len()
        )
    };
    let te_cl_body = format!("{:x}\r\n{smuggled}\r\n0\r\n\r\n", smuggled.len());
    let valid_then_smuggled = format!("{VALID}{smuggled}");
    vec![
        case("CL + TE: chunked ends at once, smuggled POST after", post("1.1", &cl_te("chunked"), &cl_te_body), App(400)),
        case("TE then CL, same payload", post("1.1", &format!("transfer-encoding: chunked\r\ncontent-length: {}\r\n", cl_te_body.len()), &cl_te_body), App(400)),
        case("CL + TE: CHUNKED in upper case", post("1.1", &cl_te("CHUNKED"), &cl_te_body), App(400)),
        case("TE + CL: 3, the smuggled POST inside a chunk", post("1.1", "content-length: 3\r\ntransfer-encoding: chunked\r\n", &te_cl_body), App(400)),
        case("TE: chunked, then TE: identity, with CL", post("1.1", &format!("{}transfer-encoding: identity\r\n", cl_te("chunked")), &cl_te_body), Hyper(400)),
        case("TE: xchunked with CL", post("1.1", &cl_te("xchunked"), &cl_te_body), Hyper(400)),
        case("TE: chunked, gzip (chunked not last)", post("1.1", &cl_te("chunked, gzip"), &cl_te_body), Hyper(400)),
        case("'transfer-encoding : chunked' (space before colon)", post("1.1", &format!("content-length: {}\r\ntransfer-encoding : chunked\r\n", cl_te_body.len()), &cl_te_body), Hyper(400)),
        case("TE: chunked on HTTP/1.0", post("1.0", &cl_te("chunked"), &cl_te_body), Hyper(400)),
        case("two Content-Lengths, 49 and 5", post("1.1", &format!("content-length: {}\r\ncontent-length: 5\r\n", VALID.len()), &valid_then_smuggled), Hyper(400)),
        case("Content-Length: 49, 5 (a list)", post("1.1", &format!("content-length: {}, 5\r\n", VALID.len()), &valid_then_smuggled), Hyper(400)),
        case("Content-Length: abc", post("1.1", "content-length: abc\r\n", VALID), Hyper(400)),
        case("Content-Length: -1", post("1.1", "content-length: -1\r\n", VALID), Hyper(400)),
        case("Content-Length: +49", post("1.1", &format!("content-length: +{}\r\n", VALID.len()), VALID), Hyper(400)),
        case("Content-Length: 18446744073709551616", post("1.1", "content-length: 18446744073709551616\r\n", VALID), Hyper(400)),
        case("Content-Length: 10485760, no body sent", post("1.1", "content-length: 10485760\r\n", ""), App(413)),
        case("bad chunk size 'zz', smuggled POST after", post("1.1", "transfer-encoding: chunked\r\n", &format!("zz\r\n{smuggled}")), App(400)),
        case("chunk size past 64 bits", post("1.1", "transfer-encoding: chunked\r\n", &format!("fffffffffffffffffffff\r\n{VALID}\r\n0\r\n\r\n")), App(400)),
        case("chunk longer than its size, smuggled POST after", post("1.1", "transfer-encoding: chunked\r\n", &format!("5\r\n{VALID}\r\n0\r\n\r\n{smuggled}")), App(400)),
        case("chunk extension of 10,000 characters", post("1.1", "transfer-encoding: chunked\r\n", &format!("{:x};{}\r\n{VALID}\r\n0\r\n\r\n", VALID.len(), "x".repeat(10_000))), App(201)),
        FramingCase {
            input: "body 20 bytes short of its Content-Length, then EOF",
            raw: post(
                "1.1",
                &format!("content-length: {}\r\n", VALID.len() + 20),
                VALID,
            ),
            half_close: true,
            expect: App(400),
        },
    ]
}

async fn conflicting_framing_smuggles_nothing(app: TestApp) {
    let mut battery = Battery::new(&app);
    for case in cases() {
        let before = Rows::of(&app.db_pool).await;
        let mut stream = connect(&app).await;
        let _ = stream.write_all(&case.raw).await;
        if case.half_close {
            let _ = stream.shutdown().await;
        }
        let exchange = read_answers(&mut stream).await;
        let mut failure = match exchange.answers.as_slice() {
            [answer] => answer.mismatch(case.expect),
            answers => Some(format!(
                "{} answers (a smuggled request was answered?)",
                answers.len()
            )),
        };
        // Only the one case that is accepted writes, one user.
        let created = i64::from(matches!(case.expect, App(201)));
        let expected = Rows {
            users: before.users + created,
            ..before
        };
        let after = Rows::of(&app.db_pool).await;
        if after != expected {
            failure.get_or_insert(format!("rows changed: {before:?} -> {after:?}"));
        }
        if app.get("/healthz").await.status() != 200 {
            failure.get_or_insert("a fresh request is not served".into());
        }
        let outcome = match exchange.answers.first() {
            Some(answer) => format!(
                "{}; {} answer(s), {}",
                answer.describe(),
                exchange.answers.len(),
                if exchange.closed {
                    "closed"
                } else {
                    "kept open"
                }
            ),
            None => "no answer".into(),
        };
        battery.record(Channel::Framing, case.input, &outcome, failure);
    }
    battery.finish("framing");
    assert_still_serving(&app, "framing").await;
}

const TIMEOUT: Duration = Duration::from_millis(500);

fn time_out_after_500_ms(settings: &mut Settings) {
    settings.http.request_timeout = TIMEOUT;
}

/// A slow client's request: the head, then these body pieces `gap` apart,
/// then nothing (the connection held open).
type SlowRow = (&'static str, String, Vec<&'static str>, Duration, Expect);

#[rustfmt::skip] // A table: one case per line.
fn slow_rows() -> Vec<SlowRow> {
    let head = |length: usize| {
        format!(
            "POST /api/v1/users HTTP/1.1\r\nhost: orderly.test\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
        )
    };
    let chunked_head = "POST /api/v1/users HTTP/1.1\r\nhost: orderly.test\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    let trickle: Vec<&'static str> = (0..VALID.len()).map(|i| &VALID[i..=i]).collect();
    let (first_half, second_half) = VALID.split_at(20);
    vec![
        ("headers, then no body at all", head(VALID.len()), vec![], Duration::ZERO, App(408)),
        ("20 of 49 body bytes, then nothing", head(VALID.len()), vec![first_half], Duration::ZERO, App(408)),
        ("chunked: one chunk, then nothing", chunked_head.to_owned(), vec!["5\r\n{\"ema\r\n"], Duration::ZERO, App(408)),
        ("one byte every 100 ms (4.9 s in all)", head(VALID.len()), trickle, Duration::from_millis(100), App(408)),
        ("two pieces 150 ms apart (in time)", head(VALID.len()), vec![first_half, second_half], Duration::from_millis(150), App(201)),
    ]
}

async fn slow_bodies_are_cut_off_at_the_request_timeout(app: TestApp) {
    let rows = slow_rows();
    let mut battery = Battery::new(&app);
    for (input, head, pieces, gap, expect) in rows {
        let before = Rows::of(&app.db_pool).await;
        let started = Instant::now();
        let (mut reader, mut writer) = connect(&app).await.into_split();
        let sender = tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await?;
            for piece in pieces {
                tokio::time::sleep(gap).await;
                writer.write_all(piece.as_bytes()).await?;
            }
            // Hold the connection open, sending nothing more.
            tokio::time::sleep(Duration::from_secs(10)).await;
            std::io::Result::Ok(())
        });
        let exchange = read_answers(&mut reader).await;
        sender.abort();
        let elapsed = exchange.answered_at.unwrap_or_else(Instant::now) - started;
        let mut failure = match exchange.answers.as_slice() {
            [answer] => answer.mismatch(expect),
            answers => Some(format!("{} answers", answers.len())),
        };
        let cut_off = matches!(expect, App(408));
        if cut_off && !(TIMEOUT..TIMEOUT + Duration::from_secs(2)).contains(&elapsed) {
            failure.get_or_insert(format!("answered after {elapsed:?}"));
        }
        if cut_off && Rows::of(&app.db_pool).await != before {
            failure.get_or_insert("rows changed".into());
        }
        if cut_off && !exchange.closed {
            failure.get_or_insert("the connection was kept open".into());
        }
        let outcome = match exchange.answers.first() {
            Some(answer) => format!("{} after {} ms", answer.describe(), elapsed.as_millis()),
            None => "no answer".into(),
        };
        battery.record(Channel::Framing, input, &outcome, failure);
    }
    battery.finish("slow bodies");
    assert_still_serving(&app, "slow-bodies").await;
}

crate::on_both_backends!(
    conflicting_framing_smuggles_nothing,
    slow_bodies_are_cut_off_at_the_request_timeout => time_out_after_500_ms,
);
