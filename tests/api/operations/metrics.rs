//! `GET /metrics`: Prometheus text that counts what the service did.
//!
//! The recorder is one per process, so every test here runs a real
//! `orderly` process of its own (`OrderlyProcess`): its counts start at
//! zero and only the test moves them, so each is checked exactly. (Apps
//! built inside the test binary share one recorder with every other test
//! running beside them.)

use serde_json::json;

use crate::helpers::process::OrderlyProcess;
use crate::helpers::{time_until, Backend};

/// The value of the sample whose name and labels are exactly `series`
/// (as in `name{a="1",b="2"}`), if the exposition has it.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(app: &OrderlyProcess) -> String {
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    resp.text().await.unwrap()
}

async fn status_of(app: &OrderlyProcess, path: &str) -> u16 {
    let resp = app.client.get(app.url(path)).send().await.unwrap();
    resp.status().as_u16()
}

/// `POST` of `body` to `path`, with an idempotency key if given.
async fn post(app: &OrderlyProcess, path: &str, body: &str, key: Option<&str>) -> u16 {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Arrange step: a user made through the API; its id.
async fn a_user(app: &OrderlyProcess, email: &str) -> i64 {
    let resp = app
        .client
        .post(app.url("/api/v1/users"))
        .json(&json!({"email": email, "name": "Metrics"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn requests_are_counted_by_route_template_not_raw_path(backend: Backend) {
    let app = OrderlyProcess::start(backend, &[]).await;
    let a = a_user(&app, "a@example.com").await;
    let b = a_user(&app, "b@example.com").await;
    for id in [a, b, a] {
        assert_eq!(status_of(&app, &format!("/api/v1/users/{id}")).await, 200);
    }
    assert_eq!(status_of(&app, "/api/v1/users/987654").await, 404);
    for path in ["/no/such/route", "/wp-admin.php", "/api/v1/users/1/x"] {
        assert_eq!(status_of(&app, path).await, 404);
    }

    let text = scrape(&app).await;
    let count = |method: &str, route: &str, status: u16| {
        let series = format!(
            "orderly_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
        );
        sample(&text, &series)
    };
    assert_eq!(count("POST", "/api/v1/users", 201), Some(2.0), "{text}");
    assert_eq!(count("GET", "/api/v1/users/{id}", 200), Some(3.0));
    assert_eq!(count("GET", "/api/v1/users/{id}", 404), Some(1.0));
    assert_eq!(count("GET", "<unmatched>", 404), Some(3.0));
    assert!(
        !text.contains(&format!("/api/v1/users/{a}")),
        "raw paths leak into labels"
    );
    assert!(!text.contains("wp-admin"));
    // The latency histogram has the same labels, with buckets.
    let latency = "orderly_http_request_duration_seconds";
    let labels = "method=\"GET\",route=\"/api/v1/users/{id}\",status=\"200\"";
    assert_eq!(
        sample(&text, &format!("{latency}_count{{{labels}}}")),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("{latency}_bucket{{{labels},le=\"+Inf\"}}")),
        Some(3.0)
    );
}

async fn made_up_methods_share_one_label(backend: Backend) {
    let app = OrderlyProcess::start(backend, &[]).await;
    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    let resp = app
        .client
        .request(brew, app.url("/api/v1/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);

    let text = scrape(&app).await;
    let series =
        "orderly_http_requests_total{method=\"OTHER\",route=\"/api/v1/users\",status=\"405\"}";
    assert_eq!(sample(&text, series), Some(1.0), "{text}");
    assert!(!text.contains("BREW"));
}

async fn every_connection_pool_is_reported(backend: Backend) {
    let pools = match backend {
        Backend::Postgres => ["pg_readers", "pg_writers", "pg_transactions"].as_slice(),
        Backend::Sqlite => ["sqlite_readers", "sqlite_writer"].as_slice(),
    };
    let app = OrderlyProcess::start(backend, &[]).await;
    let user = a_user(&app, "pools@example.com").await;
    assert_eq!(status_of(&app, &format!("/api/v1/users/{user}")).await, 200);
    let text = scrape(&app).await;
    for pool in pools {
        let max = sample(
            &text,
            &format!("orderly_db_connections_max{{pool=\"{pool}\"}}"),
        );
        assert!(
            max.is_some_and(|m| m >= 1.0),
            "{pool}: max {max:?} in\n{text}"
        );
        for state in ["in_use", "idle"] {
            let series = format!("orderly_db_connections{{pool=\"{pool}\",state=\"{state}\"}}");
            assert!(
                sample(&text, &series).is_some(),
                "{series} missing in\n{text}"
            );
        }
        let waiting = format!("orderly_db_waiting{{pool=\"{pool}\"}}");
        assert!(sample(&text, &waiting).is_some(), "{waiting} missing");
        // Background work (the key reload) may be opening a connection
        // this instant; with nothing asking, nobody waits.
        time_until(&format!("{waiting} at 0"), async || {
            sample(&scrape(&app).await, &waiting) == Some(0.0)
        })
        .await;
    }
    // The readers served the request above; the gauge shows them open.
    let reader = pools[0];
    let open: f64 = ["in_use", "idle"]
        .iter()
        .map(|state| {
            sample(
                &text,
                &format!("orderly_db_connections{{pool=\"{reader}\",state=\"{state}\"}}"),
            )
            .unwrap()
        })
        .sum();
    assert!(open >= 1.0, "{reader} has no open connection after a read");
}

async fn idempotent_requests_are_counted_by_outcome(backend: Backend) {
    let app = OrderlyProcess::start(backend, &[]).await;
    let user = a_user(&app, "buyer@example.com").await;
    let body = json!({"user_id": user, "items": crate::helpers::one_item()}).to_string();
    for _ in 0..3 {
        let status = post(&app, "/api/v1/orders", &body, Some("metrics-key")).await;
        assert_eq!(status, 201);
    }
    let other = json!({"user_id": user, "items": [{"sku": "B", "quantity": 2, "unit_price": 7}]})
        .to_string();
    let status = post(&app, "/api/v1/orders", &other, Some("metrics-key")).await;
    assert_eq!(status, 422);
    // Without a key, nothing is counted here.
    assert_eq!(post(&app, "/api/v1/orders", &body, None).await, 201);

    let text = scrape(&app).await;
    let outcome = |o: &str| {
        sample(
            &text,
            &format!("orderly_idempotent_requests_total{{outcome=\"{o}\"}}"),
        )
    };
    assert_eq!(outcome("executed"), Some(1.0), "{text}");
    assert_eq!(outcome("replayed"), Some(2.0));
    assert_eq!(outcome("key_reused"), Some(1.0));
    assert_eq!(outcome("in_flight"), None);
}

async fn build_info_is_reported_and_no_log_line_is_dropped_while_the_log_is_read(backend: Backend) {
    let app = OrderlyProcess::start(backend, &[]).await;
    for _ in 0..50 {
        assert_eq!(status_of(&app, "/healthz").await, 200);
    }
    let text = scrape(&app).await;
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        sample(
            &text,
            &format!("orderly_build_info{{version=\"{version}\"}}")
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "orderly_log_lines_dropped_total"), Some(0.0));
}

/// A log collector that stops reading: the pipe fills, then the log's
/// buffer, and from then on lines are dropped and counted, while every
/// request is still answered at once.
async fn log_lines_are_dropped_and_counted_when_nobody_reads_the_log(backend: Backend) {
    let app = OrderlyProcess::start_with_unread_log(backend).await;
    // One line each: well past the pipe's 64 KiB and the buffer's 256 KiB.
    const REQUESTS: u32 = 5_000;
    for n in 0..REQUESTS {
        let status = status_of(&app, "/healthz").await;
        assert_eq!(status, 200, "request {n} while the log is stuck");
    }
    let text = scrape(&app).await;
    let dropped = sample(&text, "orderly_log_lines_dropped_total").expect("the counter");
    assert!(
        dropped > 0.0 && dropped <= f64::from(REQUESTS) + 1.0,
        "dropped {dropped} of {REQUESTS} lines"
    );
}

/// Each test once per backend; each starts its own process.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Postgres).await
                }
            )+
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Sqlite).await
                }
            )+
        }
    };
}

on_both_backends!(
    requests_are_counted_by_route_template_not_raw_path,
    made_up_methods_share_one_label,
    every_connection_pool_is_reported,
    idempotent_requests_are_counted_by_outcome,
    build_info_is_reported_and_no_log_line_is_dropped_while_the_log_is_read,
);

/// The log is the same on both backends: one process shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_log_drops_lines_and_counts_them() {
    log_lines_are_dropped_and_counted_when_nobody_reads_the_log(Backend::Sqlite).await;
}
