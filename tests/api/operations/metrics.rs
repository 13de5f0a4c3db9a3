//! `GET /metrics`: Prometheus text that counts what the service did.
//!
//! The recorder is one per process, and `cargo test` runs the tests of a
//! binary in one process, side by side: counts are compared before and
//! after what the test does, and must have grown at least by as much.

use serde_json::json;

use crate::helpers::TestApp;

/// The value of the sample whose name and labels are exactly `series`
/// (as in `name{a="1",b="2"}`), if the exposition has it.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// How much `series` grew from `before` to `after` (absent: 0).
fn growth(before: &str, after: &str, series: &str) -> f64 {
    sample(after, series).unwrap_or(0.0) - sample(before, series).unwrap_or(0.0)
}

async fn scrape(app: &TestApp) -> String {
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    resp.text().await.unwrap()
}

async fn requests_are_counted_by_route_template_not_raw_path(app: TestApp) {
    let before = scrape(&app).await;
    let a = app.create_user("a@example.com", "A").await["id"]
        .as_i64()
        .unwrap();
    let b = app.create_user("b@example.com", "B").await["id"]
        .as_i64()
        .unwrap();
    for id in [a, b, a] {
        assert_eq!(app.get(&format!("/api/v1/users/{id}")).await.status(), 200);
    }
    assert_eq!(app.get("/api/v1/users/987654").await.status(), 404);
    for path in ["/no/such/route", "/wp-admin.php", "/api/v1/users/1/x"] {
        assert_eq!(app.get(path).await.status(), 404);
    }

    let text = scrape(&app).await;
    let series = |route: &str, status: u16| {
        format!(
            "orderly_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"{status}\"}}"
        )
    };
    let grew = |series: &str| growth(&before, &text, series);
    assert!(grew(&series("/api/v1/users/{id}", 200)) >= 3.0, "{text}");
    assert!(grew(&series("/api/v1/users/{id}", 404)) >= 1.0);
    assert!(grew(&series("<unmatched>", 404)) >= 3.0);
    assert!(
        !text.contains(&format!("/api/v1/users/{a}")),
        "raw paths leak into labels"
    );
    assert!(!text.contains("wp-admin"));
    // The latency histogram has the same labels, with buckets.
    assert!(text.contains(
        "orderly_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/users/{id}\",status=\"200\",le=\"0.005\"}"
    ), "{text}");
    assert!(
        grew("orderly_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/users/{id}\",status=\"200\"}")
            >= 3.0
    );
}

async fn made_up_methods_share_one_label(app: TestApp) {
    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    let resp = app
        .client
        .request(brew, app.url("/api/v1/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);

    let text = scrape(&app).await;
    assert!(
        text.contains("method=\"OTHER\",route=\"/api/v1/users\",status=\"405\""),
        "{text}"
    );
    assert!(!text.contains("BREW"));
}

async fn every_connection_pool_is_reported(app: TestApp, pools: &[&str]) {
    let user = app.a_user().await;
    assert_eq!(
        app.get(&format!("/api/v1/users/{user}")).await.status(),
        200
    );
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
        assert_eq!(sample(&text, &waiting), Some(0.0), "{waiting}");
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

async fn postgres_pools_are_reported(app: TestApp) {
    every_connection_pool_is_reported(app, &["pg_readers", "pg_writers", "pg_transactions"]).await;
}

async fn sqlite_pools_are_reported(app: TestApp) {
    every_connection_pool_is_reported(app, &["sqlite_readers", "sqlite_writer"]).await;
}

async fn idempotent_replays_are_counted(app: TestApp) {
    let before = scrape(&app).await;
    let user = app.a_user().await;
    let body = json!({"user_id": user, "items": crate::helpers::one_item()}).to_string();
    for _ in 0..3 {
        let resp = app
            .post_with_key("/api/v1/orders", "metrics-key", &body)
            .await;
        assert_eq!(resp.status(), 201);
    }
    let other = json!({"user_id": user, "items": [{"sku": "B", "quantity": 2, "unit_price": 7}]})
        .to_string();
    assert_eq!(
        app.post_with_key("/api/v1/orders", "metrics-key", &other)
            .await
            .status(),
        422
    );

    let text = scrape(&app).await;
    let outcome = |o: &str| {
        growth(
            &before,
            &text,
            &format!("orderly_idempotent_requests_total{{outcome=\"{o}\"}}"),
        )
    };
    assert!(outcome("executed") >= 1.0, "{text}");
    assert!(outcome("replayed") >= 2.0);
    assert!(outcome("key_reused") >= 1.0);
}

async fn build_info_and_dropped_log_lines_are_reported(app: TestApp) {
    // A second app in the same process shares the one recorder, and both
    // keep answering /metrics.
    let other = app.another_instance().await;
    let other_scrape = app.client.get(other.url("/metrics")).send().await.unwrap();
    assert_eq!(other_scrape.status(), 200);
    let text = scrape(&app).await;
    assert!(text.contains("route=\"/metrics\",status=\"200\""), "{text}");
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

crate::on_both_backends!(
    requests_are_counted_by_route_template_not_raw_path,
    made_up_methods_share_one_label,
    idempotent_replays_are_counted,
    build_info_and_dropped_log_lines_are_reported,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connection_pools() {
    postgres_pools_are_reported(TestApp::spawn(crate::helpers::Backend::Postgres).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_connection_pools() {
    sqlite_pools_are_reported(TestApp::spawn(crate::helpers::Backend::Sqlite).await).await;
}
