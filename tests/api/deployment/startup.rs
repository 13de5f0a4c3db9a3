//! Start-up that says where: what fails names its host and port, once;
//! the port is taken before anything is written; configuration errors
//! exit 1; the log carries neither migrations' chatter at info nor users'
//! data at any level.

use serde_json::json;

use crate::helpers::process::{orderly_command, OrderlyProcess};
use crate::helpers::{time_until, Backend};

/// A loopback port nothing listens on (bound, then let go).
fn a_closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_fails_before_the_database_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orderly.db");
    let url = format!("sqlite://{}", file.display());

    let (code, _, stderr) = orderly_command(&url, &["--bind", &address]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("could not listen on {address}")),
        "{stderr}"
    );
    assert!(
        !file.exists(),
        "the database was created although the port was taken"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_exits_1_and_help_exits_0() {
    let url = "sqlite:///nonexistent-dir/never.db";
    for args in [
        &["--bind", "localhost"][..],
        &["--bind", "127.0.0.1:99999"],
        &["--cors-origin", "*"],
        &["--pg-prepared-statements", "maybe"],
        &["--no-such-flag"],
    ] {
        let (code, _, stderr) = orderly_command(url, args).await;
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
    }
    let (code, stdout, _) = orderly_command(url, &["--help"]).await;
    assert_eq!(code, Some(0));
    for documented in [
        "--cors-origin",
        "ORDERLY_CORS_ORIGINS",
        "--pg-prepared-statements",
        "ORDERLY_PG_PREPARED_STATEMENTS",
    ] {
        assert!(stdout.contains(documented), "--help lacks {documented}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_takes_a_host_name() {
    let app = OrderlyProcess::start(Backend::Sqlite, &[("ORDERLY_BIND", "localhost:0")]).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connection_names_each_host_and_its_cause_once() {
    let (first, second) = (a_closed_port(), a_closed_port());
    let url = format!(
        "postgres://postgres@127.0.0.1:{first},127.0.0.1:{second}/postgres?target_session_attrs=read-write"
    );
    let (code, _, stderr) = orderly_command(&url, &["migrate"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    for port in [first, second] {
        assert!(
            stderr.contains(&format!("127.0.0.1:{port}: Connection refused")),
            "{stderr}"
        );
    }
    assert_eq!(stderr.matches("Connection refused").count(), 2, "{stderr}");
    assert!(!stderr.contains("error connecting to server"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_level_holds_users_data_and_migration_notices_stay_below_info() {
    let app = OrderlyProcess::start(Backend::Postgres, &[("RUST_LOG", "debug")]).await;
    let (email, name) = ("private.person@example.com", "Private Person");
    let created = app
        .client
        .post(app.url("/api/v1/users"))
        .json(&json!({"email": email, "name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let found = app
        .client
        .get(app.url("/api/v1/users?limit=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), 200);
    // The log is written in the background: wait for the read's request
    // line, written after everything the create logged.
    time_until("the log has caught up", async || {
        app.log()
            .iter()
            .any(|line| line.contains(r#""method":"GET""#))
    })
    .await;
    let log = app.log();
    assert!(
        log.iter().any(|line| line.contains("DEBUG")),
        "no debug lines at all"
    );
    for line in &log {
        assert!(!line.contains(email) && !line.contains(name), "{line}");
    }

    // A second start on the migrated database: PostgreSQL's NOTICE that
    // the history table exists is detail, not news.
    let again = OrderlyProcess::start_on_url(&app.database_url(), &[]).await;
    let notices: Vec<String> = again
        .log()
        .into_iter()
        .filter(|line| line.contains("already exists"))
        .collect();
    assert!(notices.is_empty(), "{notices:?}");
}
