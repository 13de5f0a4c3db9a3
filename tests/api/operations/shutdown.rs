//! A real `orderly` process stops gracefully on SIGTERM: it stops taking
//! connections, finishes every request it accepted (a body still arriving
//! included), and exits 0 within its shutdown timeout.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::process::OrderlyProcess;
use crate::helpers::Backend;

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a `POST /api/v1/users` whose body arrives in two halves; the
/// first half is sent now. The connection first serves a `GET /healthz`,
/// so it is known to be accepted.
async fn slow_upload(app: &OrderlyProcess, email: &str) -> (TcpStream, Vec<u8>) {
    let body = json!({"email": email, "name": "Slow"})
        .to_string()
        .into_bytes();
    let mut stream = TcpStream::connect(app.socket_address()).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: orderly\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    // The answer is small: its head, then the body `{"status":"ok"}`.
    while !answer.ends_with(b"}") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before answering /healthz");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    let head = format!(
        "POST /api/v1/users HTTP/1.1\r\nhost: orderly\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let half = body.len() / 2;
    stream.write_all(&body[..half]).await.unwrap();
    (stream, body[half..].to_vec())
}

/// Sends the rest of the body and reads the whole answer.
async fn finish_upload(mut stream: TcpStream, rest: Vec<u8>) -> String {
    stream.write_all(&rest).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

async fn sigterm_finishes_accepted_requests_then_exits_0(backend: Backend) {
    let timeout = SHUTDOWN_TIMEOUT.as_millis().to_string();
    let mut app = OrderlyProcess::start(
        backend,
        &[("ORDERLY_SHUTDOWN_TIMEOUT_MS", timeout.as_str())],
    )
    .await;
    let client = app.client.clone();

    // Writes wait on a lock the test holds, so they are in flight when the
    // signal comes.
    let lock = app.db_pool.hold_write_lock().await;
    let writes: Vec<_> = (0..8)
        .map(|n| {
            let request = client
                .post(app.url("/api/v1/users"))
                .json(&json!({"email": format!("w{n}@example.com"), "name": "W"}));
            tokio::spawn(async move { request.send().await })
        })
        .collect();
    let (upload, rest) = slow_upload(&app, "slow@example.com").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    app.signal("TERM");
    let signalled = Instant::now();
    // Soon no new connection is taken any more.
    let mut refused = false;
    while !refused && signalled.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        refused = client.get(app.url("/healthz")).send().await.is_err();
    }
    assert!(refused, "new requests were still served 3 s after SIGTERM");

    lock.release().await;
    let slow_answer = finish_upload(upload, rest).await;
    assert!(slow_answer.starts_with("HTTP/1.1 201"), "{slow_answer}");
    assert!(
        slow_answer.contains("\"email\":\"slow@example.com\""),
        "{slow_answer}"
    );
    // Every write that ran was answered in full; one that got no answer
    // never ran (it did not get past the listen queue before the signal).
    let mut created = 1;
    for (n, write) in writes.into_iter().enumerate() {
        let email = format!("w{n}@example.com");
        let answer = write.await.unwrap();
        let stored = app
            .db_pool
            .scalar(&format!(
                "SELECT COUNT(*) FROM users WHERE email = '{email}'"
            ))
            .await;
        match answer {
            Ok(resp) => {
                assert_eq!(resp.status(), 201);
                let user: serde_json::Value = resp.json().await.expect("a whole body");
                assert_eq!(user["email"], email.as_str());
                assert_eq!(stored, 1);
                created += 1;
            }
            Err(e) => assert_eq!(stored, 0, "{email} was written, its answer lost: {e}"),
        }
    }
    assert!(
        created > 1,
        "no write was in flight at SIGTERM: the test proves little"
    );

    let code = app.exit_code(SHUTDOWN_TIMEOUT).await;
    assert_eq!(code, Some(0), "log: {:?}", app.log());
    assert!(signalled.elapsed() < SHUTDOWN_TIMEOUT);
    // Every write that ran was answered, and every answer was a write.
    assert_eq!(app.db_pool.count("users").await, created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigterm_finishes_accepted_requests_then_exits_0() {
    sigterm_finishes_accepted_requests_then_exits_0(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigterm_finishes_accepted_requests_then_exits_0() {
    sigterm_finishes_accepted_requests_then_exits_0(Backend::Sqlite).await;
}

/// A request that outlives the shutdown timeout does not keep the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_timeout_bounds_the_drain() {
    let mut app =
        OrderlyProcess::start(Backend::Sqlite, &[("ORDERLY_SHUTDOWN_TIMEOUT_MS", "1000")]).await;
    let (stalled, _rest) = slow_upload(&app, "never@example.com").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.signal("TERM");
    let signalled = Instant::now();
    assert_eq!(app.exit_code(Duration::from_secs(5)).await, Some(0));
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "exited after {took:?}: did not wait"
    );
    assert!(
        app.log().iter().any(|l| l.contains("shutdown timeout")),
        "{:?}",
        app.log()
    );
    drop(stalled);
}
