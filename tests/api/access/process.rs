//! What only a real process shows: where it refuses to run open, and that
//! its log never holds a key.

use crate::helpers::process::{create_api_key, orderly_command, OrderlyProcess};
use crate::helpers::{time_until, Backend};

/// An address this machine does not have (TEST-NET-1, RFC 5737): a start
/// that got past the check would fail to bind, never listen.
const NOT_LOOPBACK: &str = "192.0.2.1:8080";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_orderly_refuses_to_run_without_keys_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("orderly.db").display());

    let (code, _, stderr) = orderly_command(&url, &["--bind", NOT_LOOPBACK]).await;
    assert_eq!(code, Some(1), "{stderr}");
    let message = stderr.lines().last().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "refusing to serve on {NOT_LOOPBACK} without API keys"
        )) && message.contains("--allow-anonymous"),
        "{stderr}"
    );

    // Allowed, or with a key: past the check, to the bind.
    let (code, _, stderr) =
        orderly_command(&url, &["--bind", NOT_LOOPBACK, "--allow-anonymous"]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("could not listen on"), "{stderr}");
    create_api_key(&url, "admin").await;
    let (code, _, stderr) = orderly_command(&url, &["--bind", NOT_LOOPBACK]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("could not listen on"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_never_holds_a_key() {
    let app = OrderlyProcess::start(Backend::Sqlite, &[]).await;
    let key = create_api_key(&app.database_url(), "admin").await;
    let users = app.url("/api/v1/users");
    time_until("the process requires the key", async || {
        app.client.get(&users).send().await.unwrap().status() == 401
    })
    .await;
    let wrong = format!("{}x", &key[..key.len() - 1]);
    for (token, want) in [(&key, 201), (&wrong, 401)] {
        let resp = app
            .client
            .post(&users)
            .bearer_auth(token)
            .json(&serde_json::json!({"email": "a@example.com", "name": "A"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), want);
    }
    // The request lines are written within about 10 ms.
    time_until("the log has the requests", async || {
        app.log()
            .iter()
            .filter(|l| l.contains("/api/v1/users"))
            .count()
            >= 3
    })
    .await;
    let log = app.log();
    let secret = &key["orderly_".len()..];
    for line in &log {
        assert!(
            !line.contains(secret) && !line.contains(&wrong["orderly_".len()..]),
            "{line}"
        );
        assert!(!line.to_ascii_lowercase().contains("bearer"), "{line}");
    }
}
