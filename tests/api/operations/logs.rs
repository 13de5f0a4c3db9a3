//! The log of a real process: one JSON object per line with
//! `--log-format json`, each line of a request carrying its id, and no
//! colour codes when the log is not a terminal.

use crate::helpers::process::OrderlyProcess;
use crate::helpers::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_carry_the_request_id_and_no_colour() {
    let mut app = OrderlyProcess::start(Backend::Sqlite, &[]).await;
    let client = app.client.clone();
    let resp = client
        .get(app.url("/api/v1/users/424242"))
        .header("x-request-id", "trace-me-7")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    app.signal("TERM");
    assert_eq!(
        app.exit_code(std::time::Duration::from_secs(10)).await,
        Some(0)
    );

    let log = app.log();
    assert!(log.len() >= 3, "{log:?}");
    for line in &log {
        assert!(
            !line.contains('\u{1b}'),
            "a colour code in a piped log: {line:?}"
        );
        let event: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        assert!(
            event["timestamp"].is_string() && event["level"].is_string(),
            "{line}"
        );
    }
    let request_line = log
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["message"] == "request")
        .expect("a line for the request");
    assert_eq!(
        request_line["span"]["request_id"], "trace-me-7",
        "{request_line}"
    );
    assert_eq!(request_line["route"], "/api/v1/users/{id}");
    assert_eq!(request_line["status"], 404);
}
