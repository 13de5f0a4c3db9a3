//! Browsers: a page on another origin calls the API in a real, headless
//! Chromium (Debian's, installed by `scripts/install/chromium.sh`) through
//! CORS, and clients that ask get compressed bodies. (Longer than most:
//! a page server and a browser run of its own, then three scenarios.)

use std::io::Read;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::process::{create_api_key, OrderlyProcess};
use crate::helpers::{time_until, Backend};

/// A loopback listener of its own for a page: another origin than the
/// API's. Its origin.
async fn page_origin() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    (listener, origin)
}

/// Serves `html` to every request on `listener`.
fn serve_page(listener: TcpListener, html: String) {
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let html = html.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
}

/// A page whose script creates a user through the API at `api` with `key`
/// and an idempotency key, and writes what it saw into `#out`.
fn page_that_creates_a_user(api: &str, key: &str, email: &str) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out">pending</pre><script>
(async () => {{
  const out = document.getElementById('out');
  try {{
    const r = await fetch('{api}/api/v1/users', {{
      method: 'POST',
      headers: {{ 'Authorization': 'Bearer {key}', 'Content-Type': 'application/json',
                 'Idempotency-Key': 'from-the-browser' }},
      body: JSON.stringify({{ email: '{email}', name: 'Browser' }}),
    }});
    const body = await r.json();
    out.textContent = JSON.stringify({{ status: r.status, etag: r.headers.get('ETag'),
      location: r.headers.get('Location'), requestId: r.headers.get('X-Request-Id'), id: body.id }});
  }} catch (e) {{
    out.textContent = JSON.stringify({{ error: String(e) }});
  }}
}})();
</script></body></html>"#
    )
}

/// Loads `url` in headless Chromium and returns what `#out` holds once
/// the page's scripts ran.
fn what_the_page_saw(url: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/install/chromium.sh");
    let found = Command::new("bash")
        .arg(script)
        .output()
        .expect("bash runs");
    assert!(
        found.status.success(),
        "no Chromium: scripts/install/chromium.sh installs Debian's chromium package (as root, with apt): {}",
        String::from_utf8_lossy(&found.stderr)
    );
    let chromium = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=8000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    let text = dom
        .split_once(r#"<pre id="out">"#)
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(text, _)| text.replace("&quot;", "\"").replace("&amp;", "&"))
        .unwrap_or_else(|| {
            panic!(
                "no #out in the page: {dom}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("#out holds {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_an_allowed_origin_creates_a_user_and_reads_its_etag_and_others_cannot() {
    let (allowed_listener, allowed) = page_origin().await;
    let (other_listener, other) = page_origin().await;
    let app = OrderlyProcess::start(Backend::Postgres, &[("ORDERLY_CORS_ORIGINS", &allowed)]).await;
    let key = create_api_key(&app.database_url(), "admin").await;
    time_until("the key works", async || {
        let r = app
            .client
            .get(app.url("/api/v1/users"))
            .bearer_auth(&key)
            .send()
            .await;
        r.unwrap().status() == 200
    })
    .await;
    let api = app.url("");

    // The allowed origin's page: created, and its script reads the headers.
    serve_page(
        allowed_listener,
        page_that_creates_a_user(&api, &key, "browser@example.com"),
    );
    let seen = tokio::task::spawn_blocking(move || what_the_page_saw(&format!("{allowed}/")))
        .await
        .unwrap();
    assert_eq!(seen["status"], 201, "{seen}");
    let id = seen["id"].as_i64().expect("the new user's id");
    assert!(
        seen["etag"].as_str().is_some_and(|e| e.starts_with('"')),
        "{seen}"
    );
    assert_eq!(seen["location"], format!("/api/v1/users/{id}"), "{seen}");
    assert!(
        seen["requestId"].as_str().is_some_and(|r| !r.is_empty()),
        "{seen}"
    );

    // Another origin's page: the browser refuses, and nothing is written.
    serve_page(
        other_listener,
        page_that_creates_a_user(&api, &key, "other@example.com"),
    );
    let seen = tokio::task::spawn_blocking(move || what_the_page_saw(&format!("{other}/")))
        .await
        .unwrap();
    assert!(
        seen["error"]
            .as_str()
            .is_some_and(|e| e.contains("Failed to fetch")),
        "{seen}"
    );
    let written = app
        .db_pool
        .scalar("SELECT count(*) FROM users WHERE email = 'other@example.com'")
        .await;
    assert_eq!(written, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_name_what_clients_send_and_other_origins_get_no_cors_headers() {
    let allowed = "https://app.example.com";
    let app = OrderlyProcess::start(Backend::Sqlite, &[("ORDERLY_CORS_ORIGINS", allowed)]).await;
    let preflight = |origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/orders"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, idempotency-key, if-match",
            )
            .send()
    };
    let answer = preflight(allowed).await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .unwrap_or_default()
    };
    assert_eq!(header("access-control-allow-origin"), allowed);
    assert!(header("access-control-allow-methods").contains("post"));
    for sent in [
        "authorization",
        "content-type",
        "idempotency-key",
        "if-match",
    ] {
        assert!(
            header("access-control-allow-headers").contains(sent),
            "{sent}"
        );
    }
    // An answer's headers a script may read.
    let created = app
        .client
        .post(app.url("/api/v1/users"))
        .header("origin", allowed)
        .json(&json!({"email": "cors@example.com", "name": "Cors"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let exposed = created.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in ["etag", "location", "x-request-id"] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    // Another origin: no CORS header at all.
    let answer = preflight("https://evil.example").await.unwrap();
    assert!(answer
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let read = app
        .client
        .get(app.url("/api/v1/users"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(read.headers().get("access-control-allow-origin").is_none());

    // Not configured: no CORS headers for anyone.
    let plain = OrderlyProcess::start(Backend::Sqlite, &[]).await;
    let read = plain
        .client
        .get(plain.url("/api/v1/users"))
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert!(read.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_json_bodies_are_gzipped_for_clients_that_ask_and_small_ones_are_not() {
    let app = OrderlyProcess::start(Backend::Sqlite, &[]).await;
    for n in 0..100 {
        let created = app
            .client
            .post(app.url("/api/v1/users"))
            .json(&json!({"email": format!("gzip{n}@example.com"), "name": "Compressed Person"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let get = |path: &str, gzip: bool| {
        let mut request = app.client.get(app.url(path));
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        request.send()
    };
    for path in ["/api/v1/users?limit=100", "/openapi.json"] {
        let plain = get(path, false).await.unwrap();
        assert!(plain.headers().get("content-encoding").is_none(), "{path}");
        let plain = plain.bytes().await.unwrap();
        let zipped = get(path, true).await.unwrap();
        assert_eq!(zipped.headers()["content-encoding"], "gzip", "{path}");
        assert!(zipped.headers()["vary"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("accept-encoding"));
        let zipped = zipped.bytes().await.unwrap();
        assert!(
            zipped.len() * 3 < plain.len(),
            "{path}: {} of {} bytes",
            zipped.len(),
            plain.len()
        );
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&zipped[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, plain, "{path}");
    }
    let small = get("/api/v1/users/1", true).await.unwrap();
    assert_eq!(small.status(), 200);
    assert!(small.headers().get("content-encoding").is_none());
}
