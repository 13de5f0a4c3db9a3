//! Webhook deliveries to real receivers: signed, each event once, a
//! backlog oldest first after an outage, retries on the documented
//! schedule until given up, re-sent on request, 410 Gone, private
//! addresses refused, admin keys only.
//!
//! Each test has a database of its own, as the feed's tests do
//! (`events::feed`): what the tests compare deliveries with is the feed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use orderly::config::Settings;
use serde_json::{json, Value};

use crate::helpers::process::{create_api_key, orderly_command};
use crate::helpers::receiver::Receiver;
use crate::helpers::{assert_problem, one_item, problem_fields, Api, TestApp};
use crate::on_both_backends;

on_both_backends!(own_database:
    every_event_arrives_signed_and_a_backlog_arrives_oldest_first => fast_retries,
    a_failing_receiver_is_retried_on_schedule_then_given_up_and_resent => failing_fast,
    a_receiver_answering_410_disables_its_endpoint => fast_retries,
    private_receivers_are_refused_without_the_flag,
    only_admin_keys_manage_endpoints,
);

/// Receivers on loopback, and retries within a test's patience.
pub fn fast_retries(settings: &mut Settings) {
    settings.events.allow_private = true;
    settings.events.retry_first = Duration::from_millis(200);
    settings.events.retry_max_delay = Duration::from_millis(800);
    settings.events.timeout = Duration::from_secs(2);
}

const FIRST_MS: u64 = 300;
const MAX_MS: u64 = 1200;

/// Retries from 300 ms doubling to 1.2 s, given up 5.4 s after queueing.
fn failing_fast(settings: &mut Settings) {
    settings.events.allow_private = true;
    settings.events.retry_first = Duration::from_millis(FIRST_MS);
    settings.events.retry_max_delay = Duration::from_millis(MAX_MS);
    settings.events.retry_period = Duration::from_millis(5400);
}

/// Polls until `receiver` has every id in `ids`, for at most `within`.
pub async fn until_received(receiver: &Receiver, ids: &BTreeSet<String>, within: Duration) {
    let started = Instant::now();
    loop {
        let got: BTreeSet<String> = receiver.ids().into_iter().collect();
        if ids.is_subset(&got) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "after {within:?}, {} of {} events delivered",
            ids.intersection(&got).count(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One endpoint's deliveries, as the API lists them.
async fn deliveries(api: &Api, endpoint: i64) -> Vec<Value> {
    let page = api
        .get_json(&format!(
            "/api/v1/webhook-endpoints/{endpoint}/deliveries?limit=200"
        ))
        .await;
    page["items"].as_array().expect("deliveries").clone()
}

fn ids_of(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Creates `n` users and `n` orders for them; the events' ids.
async fn changes(app: &Api, tag: &str, n: usize) {
    for i in 0..n {
        let user = app
            .create_user(&format!("{tag}-{i}@example.com"), "R")
            .await;
        app.create_order(user["id"].as_i64().unwrap(), one_item())
            .await;
    }
}

async fn every_event_arrives_signed_and_a_backlog_arrives_oldest_first(app: TestApp) {
    let mut receiver = Receiver::on_a_free_port();
    let (endpoint, secret) = app.add_webhook(&receiver.url(), None).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.with_secret(&secret).listen(200, 0).await;
    changes(&app, "up", 5).await;
    let (first, cursor) = app.drain_feed(None).await;
    let first_ids: BTreeSet<String> = ids_of(&first).into_iter().collect();
    until_received(&receiver, &first_ids, Duration::from_secs(20)).await;

    // Down: its port refuses connections while 100 more events commit.
    receiver.stop().await;
    changes(&app, "down", 50).await;
    let (backlog, _) = app.drain_feed(cursor).await;
    assert_eq!(backlog.len(), 100);
    crate::helpers::time_until("a failed attempt is recorded", async || {
        deliveries(&app, endpoint)
            .await
            .iter()
            .any(|d| d["last_error"].is_string())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    receiver.listen(200, 0).await;
    let backlog_ids = ids_of(&backlog);
    let all: BTreeSet<String> = first_ids
        .iter()
        .cloned()
        .chain(backlog_ids.clone())
        .collect();
    until_received(&receiver, &all, Duration::from_secs(30)).await;

    let received = receiver.received();
    assert!(
        received.iter().all(|r| r["verified"] == true),
        "every signature verifies: {received:?}"
    );
    let (feed, _) = app.drain_feed(None).await;
    let feed_ids: BTreeSet<String> = ids_of(&feed).into_iter().collect();
    let got: Vec<String> = receiver.ids();
    assert_eq!(
        got.iter().cloned().collect::<BTreeSet<_>>(),
        feed_ids,
        "every event, nothing else"
    );
    let duplicates = got.len() - feed_ids.len();
    // The backlog, oldest first: the events never attempted during the
    // outage go out in feed order once the endpoint answers, 16 at a time
    // (in any order within those), so each first arrives within two such
    // windows of its place in the feed.
    // (One already retried keeps its own schedule: it may come later.)
    let listed = deliveries(&app, endpoint).await;
    let retried: BTreeSet<&str> = listed
        .iter()
        .filter(|d| d["attempts"].as_i64().unwrap() > 1)
        .map(|d| d["event_id"].as_str().unwrap())
        .collect();
    let fresh: Vec<&String> = backlog_ids
        .iter()
        .filter(|id| !retried.contains(id.as_str()))
        .collect();
    let mut arrived: Vec<&String> = Vec::new();
    for id in &got {
        if fresh.contains(&id) && !arrived.contains(&id) {
            arrived.push(id);
        }
    }
    let displacement = fresh
        .iter()
        .enumerate()
        .map(|(place, id)| {
            arrived
                .iter()
                .position(|a| a == id)
                .unwrap()
                .abs_diff(place)
        })
        .max()
        .unwrap();
    println!(
        "deliveries: {} events, {} requests, {duplicates} duplicates; backlog of {} after the outage ({} retried during it), largest displacement of the rest {displacement}",
        feed_ids.len(),
        got.len(),
        backlog_ids.len(),
        retried.len()
    );
    // The outage costs one window of attempts and a few probes (paced,
    // one at a time); what is left must be long enough that an order off
    // by two windows would show.
    assert!(
        fresh.len() >= 64,
        "most of the backlog waited for the endpoint to answer: {} of {}, {} retried",
        fresh.len(),
        backlog_ids.len(),
        retried.len()
    );
    assert!(
        displacement < 32,
        "backlog order: {arrived:?} against {fresh:?}"
    );
    assert!(
        !retried.is_empty(),
        "the outage cost at least one retry: {listed:?}"
    );
    assert_eq!(listed.len(), 110);
    // The last attempts' answers may still be on their way to the database.
    crate::helpers::time_until("every delivery is recorded as delivered", async || {
        let listed = deliveries(&app, endpoint).await;
        listed.iter().all(|d| d["state"] == "delivered")
    })
    .await;
}

async fn a_failing_receiver_is_retried_on_schedule_then_given_up_and_resent(app: TestApp) {
    let mut receiver = Receiver::on_a_free_port();
    let (endpoint, secret) = app.add_webhook(&receiver.url(), None).await;
    receiver.with_secret(&secret).listen(500, 0).await;
    let user = app.create_user("fails@example.com", "F").await;
    let path = format!("/api/v1/webhook-endpoints/{endpoint}/deliveries");
    let started = Instant::now();
    let delivery = loop {
        let listed = deliveries(&app, endpoint).await;
        if listed.first().is_some_and(|d| d["state"] == "failed") {
            break listed[0].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not given up: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let attempts = receiver.received();
    assert_eq!(
        delivery["attempts"].as_u64().unwrap() as usize,
        attempts.len()
    );
    assert_eq!(delivery["last_status"], 500);
    assert!(
        attempts.len() >= 4,
        "retried until the period ran out: {attempts:?}"
    );
    assert!(attempts.iter().all(|a| a["verified"] == true));
    // The same event id on every attempt.
    let ids: BTreeSet<&str> = attempts
        .iter()
        .map(|a| a["webhook_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    // Spaced as documented: the n-th retry waits 300 ms doubled n-1 times,
    // at most 1.2 s, less up to a fifth; plus the dispatcher's poll.
    let at: Vec<f64> = attempts.iter().map(|a| a["at"].as_f64().unwrap()).collect();
    for (n, gap) in at.windows(2).map(|w| w[1] - w[0]).enumerate() {
        let nominal = (FIRST_MS << n).min(MAX_MS) as f64 / 1000.0;
        println!(
            "retry {}: {gap:.3} s after the attempt before (nominal {nominal:.3} s)",
            n + 1
        );
        assert!(
            gap >= nominal * 0.8 - 0.02 && gap <= nominal + 0.7,
            "retry {} came {gap:.3} s after the one before, nominal {nominal} s",
            n + 1
        );
    }
    // Re-sent on request, to a receiver that now answers.
    receiver.stop().await;
    receiver.listen(204, 0).await;
    let event_id = delivery["event_id"].as_str().unwrap();
    let resent = app
        .post_json(&format!("{path}/{event_id}/resend"), &json!({}))
        .await;
    assert_eq!(resent.status(), 202);
    crate::helpers::time_until("the re-sent delivery arrives", async || {
        deliveries(&app, endpoint).await[0]["state"] == "delivered"
    })
    .await;
    // Counted by outcome on /metrics (this test's process has this app alone).
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let counted = |outcome: &str| -> u64 {
        let prefix = format!("orderly_webhook_deliveries_total{{outcome=\"{outcome}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    assert_eq!(counted("retrying") + 1, attempts.len() as u64, "{metrics}");
    assert_eq!(
        (counted("failed"), counted("delivered")),
        (1, 1),
        "{metrics}"
    );
    assert!(
        metrics.contains("orderly_webhook_oldest_pending_seconds"),
        "{metrics}"
    );
    let last = receiver.received().last().cloned().unwrap();
    assert_eq!(
        (last["webhook_id"].as_str(), last["status"].as_u64()),
        (Some(event_id), Some(204))
    );
    assert_eq!(last["type"], "user.created");
    let unknown = app
        .post_json(
            &format!("{path}/evt_00000000000000000000000000000000/resend"),
            &json!({}),
        )
        .await;
    assert_problem(unknown, 404, "no such delivery").await;
    let _ = user;
}

async fn a_receiver_answering_410_disables_its_endpoint(app: TestApp) {
    let mut receiver = Receiver::on_a_free_port();
    let (endpoint, secret) = app.add_webhook(&receiver.url(), None).await;
    receiver.with_secret(&secret).listen(410, 0).await;
    app.create_user("gone410@example.com", "G").await;
    let path = format!("/api/v1/webhook-endpoints/{endpoint}");
    crate::helpers::time_until("the endpoint is disabled", async || {
        app.get_json(&path).await["enabled"] == false
    })
    .await;
    let shown = app.get_json(&path).await;
    assert!(
        shown["disabled_reason"].as_str().unwrap().contains("410"),
        "{shown}"
    );
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown only once"
    );
    // Nothing more is sent to it: an endpoint beside it that answers gets
    // the next event, and by then the disabled one has had its chance.
    let mut witness = Receiver::on_a_free_port();
    let (_, witness_secret) = app.add_webhook(&witness.url(), None).await;
    witness.with_secret(&witness_secret).listen(200, 0).await;
    app.create_user("after410@example.com", "G").await;
    let (events, _) = app.drain_feed(None).await;
    let last: BTreeSet<String> = ids_of(&events[1..]).into_iter().collect();
    until_received(&witness, &last, Duration::from_secs(20)).await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(deliveries(&app, endpoint).await[0]["state"], "failed");
}

async fn private_receivers_are_refused_without_the_flag(app: TestApp) {
    for url in [
        "http://127.0.0.1:9/hooks",
        "http://localhost:9/hooks",
        "http://10.0.0.7/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hooks",
    ] {
        let resp = app
            .post_json("/api/v1/webhook-endpoints", &json!({"url": url}))
            .await;
        let problem = assert_problem(resp, 422, url).await;
        assert_eq!(problem_fields(&problem), ["url"], "{url}");
    }
    for (body, field) in [
        (json!({"url": "ftp://example.com/"}), "url"),
        (
            json!({"url": "https://example.com/", "events": ["order.paid"]}),
            "events",
        ),
        (
            json!({"url": "https://example.com/", "events": []}),
            "events",
        ),
    ] {
        let resp = app.post_json("/api/v1/webhook-endpoints", &body).await;
        let problem = assert_problem(resp, 422, &body.to_string()).await;
        assert_eq!(problem_fields(&problem), [field]);
    }
    // Added from the command line with the flag, but served without it:
    // the name resolves to loopback, and no request is sent there.
    let mut receiver = Receiver::on_a_free_port();
    let url = format!("http://localhost:{}/hooks", receiver.port);
    let (code, stdout, stderr) = orderly_command(
        app.database_url(),
        &["webhooks", "add", "--url", &url, "--webhooks-allow-private"],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let (endpoint, secret) = stdout.trim().split_once(' ').unwrap();
    receiver.with_secret(secret).listen(200, 0).await;
    app.create_user("ssrf@example.com", "S").await;
    let path = format!("/api/v1/webhook-endpoints/{endpoint}/deliveries");
    crate::helpers::time_until("an attempt is refused", async || {
        let page = app.get_json(&path).await;
        page["items"][0]["attempts"].as_i64().unwrap_or(0) >= 1
    })
    .await;
    let page = app.get_json(&path).await;
    assert_eq!(page["items"][0]["state"], "pending");
    assert_eq!(page["items"][0]["last_status"], Value::Null);
    assert_eq!(
        receiver.received().len(),
        0,
        "nothing reached the private address"
    );
}

async fn only_admin_keys_manage_endpoints(app: TestApp) {
    let admin = create_api_key(app.database_url(), "admin").await;
    let read = create_api_key(app.database_url(), "read").await;
    crate::helpers::time_until("the keys are loaded", async || {
        app.get("/api/v1/events").await.status() == 401
    })
    .await;
    let with = |key: &str, method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(key)
            .json(&json!({"url": "https://hooks.example.com/orderly"}))
    };
    let feed = with(&read, reqwest::Method::GET, "/api/v1/events")
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200, "a read key follows the feed");
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/webhook-endpoints"),
        (reqwest::Method::POST, "/api/v1/webhook-endpoints"),
    ] {
        let resp = with(&read, method.clone(), path).send().await.unwrap();
        assert_problem(resp, 403, &format!("{method} {path} with a read key")).await;
    }
    let created = with(&admin, reqwest::Method::POST, "/api/v1/webhook-endpoints")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let path = format!("/api/v1/webhook-endpoints/{}", created["id"]);
    let got = with(&read, reqwest::Method::GET, &path)
        .send()
        .await
        .unwrap();
    assert_problem(got, 403, "a read key reads no endpoint").await;
    let listed: Value = with(&admin, reqwest::Method::GET, "/api/v1/webhook-endpoints")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["items"][0]["url"],
        "https://hooks.example.com/orderly"
    );
    assert!(listed["items"][0].get("secret").is_none());
    let deleted = with(&admin, reqwest::Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let again = with(&admin, reqwest::Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    assert_problem(again, 404, "deleted twice").await;
}

/// `orderly webhooks add|list|remove` on the database every instance reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_adds_lists_and_removes_endpoints() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let url = app.database_url();
    let (code, stdout, stderr) = orderly_command(
        url,
        &[
            "webhooks",
            "add",
            "--url",
            "https://hooks.example.com/a",
            "--events",
            "order.created,order.status_changed",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let (id, secret) = stdout.trim().split_once(' ').unwrap();
    assert!(secret.starts_with("whsec_"));
    let (code, _, stderr) =
        orderly_command(url, &["webhooks", "add", "--url", "http://127.0.0.1:8080/"]).await;
    assert_eq!(code, Some(1), "a private receiver without the flag");
    assert!(stderr.contains("--webhooks-allow-private"), "{stderr}");
    let (_, listed, _) = orderly_command(url, &["webhooks", "list"]).await;
    assert!(listed.contains("https://hooks.example.com/a"), "{listed}");
    assert!(
        listed.contains("order.created,order.status_changed"),
        "{listed}"
    );
    assert!(!listed.contains(secret), "list never shows a secret");
    let (code, _, stderr) = orderly_command(url, &["webhooks", "remove", id]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let (_, listed, _) = orderly_command(url, &["webhooks", "list"]).await;
    assert_eq!(
        listed.trim().lines().count(),
        1,
        "only the header is left: {listed}"
    );
    let (code, _, _) = orderly_command(url, &["webhooks", "remove", id]).await;
    assert_eq!(code, Some(1));
}
