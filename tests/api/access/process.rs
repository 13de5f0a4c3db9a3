//! What only a real process shows: where it refuses to run open, and that
//! its log never holds a key.

use crate::helpers::process::{create_api_key, OrderlyProcess};
use crate::helpers::{time_until, Backend};

/// An address that is not loopback (TEST-NET-1, RFC 5737), which orderly
/// can bind only inside a network namespace of the test's own where it
/// sits on `lo`: nothing listens outside the machine, or even outside
/// the namespace.
const NOT_LOOPBACK: &str = "192.0.2.1:8080";

/// `orderly ARGS` on `url` inside a fresh network namespace that has
/// `NOT_LOOPBACK`'s address, for at most 3 seconds (a server that starts
/// is stopped then, exit code 124); its exit code and standard error.
async fn in_a_namespace(url: &str, args: &str) -> (Option<i32>, String) {
    let ip = NOT_LOOPBACK.split(':').next().unwrap();
    let script = format!(
        "ip link set lo up && ip addr add {ip}/32 dev lo && exec timeout 3 {} {args}",
        env!("CARGO_BIN_EXE_orderly")
    );
    let out = tokio::process::Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .env("DATABASE_URL", url)
        .output()
        .await
        .expect("unshare runs (util-linux, as root)");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_orderly_refuses_to_run_without_keys_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("orderly.db").display());

    let (code, stderr) = in_a_namespace(&url, &format!("--bind {NOT_LOOPBACK}")).await;
    assert_eq!(code, Some(1), "{stderr}");
    let message = stderr.lines().last().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "refusing to serve on {NOT_LOOPBACK} without API keys"
        )) && message.contains("--allow-anonymous"),
        "{stderr}"
    );

    // Allowed, or with a key: it serves (until stopped).
    let allowed = format!("--bind {NOT_LOOPBACK} --allow-anonymous");
    let (code, stderr) = in_a_namespace(&url, &allowed).await;
    assert_eq!(code, Some(124), "{stderr}");
    assert!(stderr.contains("serving"), "{stderr}");
    create_api_key(&url, "admin").await;
    let (code, stderr) = in_a_namespace(&url, &format!("--bind {NOT_LOOPBACK}")).await;
    assert_eq!(code, Some(124), "{stderr}");
    assert!(stderr.contains("serving"), "{stderr}");
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
