//! PostgreSQL only: the database goes away under a running service. A
//! loopback proxy between the app and PostgreSQL, which the test cuts,
//! breaks the connection from outside the app.

use std::net::ToSocketAddrs;

use crate::helpers::pg_schemas;
use crate::helpers::proxy::Proxy;
use crate::helpers::{assert_problem, Backend, TestApp};

/// The PostgreSQL server's own address, which the proxy forwards to.
fn pg_server() -> std::net::SocketAddr {
    let url = url::Url::parse(&pg_schemas::admin_url()).expect("a URL");
    let host = url.host_str().expect("a host");
    (host, url.port().unwrap_or(5432))
        .to_socket_addrs()
        .expect("a resolvable host")
        .next()
        .expect("an address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_gives_503_with_retry_after_and_no_internals() {
    let proxy = Proxy::start(pg_server()).await;
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.database_url = proxy.rewrite(&settings.database_url);
        settings.pool_timeout_ms = 1_000;
    })
    .await;
    let user = app.create_user("ada@example.com", "Ada").await;

    proxy.cut();

    let resp = app.get(&format!("/api/v1/users/{}", user["id"])).await;
    assert_eq!(resp.headers()["retry-after"], "1");
    let problem = assert_problem(resp, 503, "database gone").await;
    let text = problem.to_string().to_lowercase();
    for leak in [
        "sql",
        "postgres",
        "connection",
        "orderly_tests",
        "127.0.0.1",
    ] {
        assert!(!text.contains(leak), "503 leaks {leak:?}: {text}");
    }
    assert_problem(app.get("/readyz").await, 503, "readyz").await;
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "alive, though not ready"
    );
}
