//! The wire: requests as raw bytes, and the answers read back off a raw
//! TCP connection, every read under a deadline.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::Expect;
use crate::helpers::TestApp;

/// A request as raw bytes: `Host` and `Connection: close` are added, and a
/// `Content-Length` when there is a body.
pub fn request(
    method: &str,
    target: &[u8],
    headers: &[(&str, &[u8])],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut raw = format!("{method} ").into_bytes();
    raw.extend_from_slice(target);
    raw.extend_from_slice(b" HTTP/1.1\r\nhost: orderly.test\r\nconnection: close\r\n");
    for (name, value) in headers {
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
    }
    if let Some(body) = body {
        raw.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        raw.extend_from_slice(body);
    } else {
        raw.extend_from_slice(b"\r\n");
    }
    raw
}

pub fn get(target: impl AsRef<[u8]>) -> Vec<u8> {
    request("GET", target.as_ref(), &[], None)
}

/// `method path` with a JSON body, byte for byte.
pub fn send_json(method: &str, path: &str, body: impl AsRef<[u8]>) -> Vec<u8> {
    request(
        method,
        path.as_bytes(),
        &[("content-type", b"application/json")],
        Some(body.as_ref()),
    )
}

/// One HTTP response read off the wire.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every answer of the app carries its request id; hyper's own do not.
    pub fn by_app(&self) -> bool {
        self.header("x-request-id").is_some()
    }

    /// The complaint about this answer, if it is not `expect`.
    pub fn mismatch(&self, expect: Expect) -> Option<String> {
        let status = self.status;
        let (statuses, by_app): (&[u16], bool) = match expect {
            Expect::App(ref s) => (std::slice::from_ref(s), true),
            Expect::Hyper(ref s) => (std::slice::from_ref(s), false),
        };
        if !statuses.contains(&status) {
            return Some(format!("status {status}, expected {statuses:?}"));
        }
        if by_app != self.by_app() {
            return Some(format!(
                "answered by {}",
                if by_app { "hyper" } else { "the app" }
            ));
        }
        if !by_app {
            return (!self.body.is_empty()).then(|| "hyper's answer has a body".into());
        }
        if status < 400 {
            return None;
        }
        if self.header("content-type") != Some("application/problem+json") {
            return Some(format!("content-type {:?}", self.header("content-type")));
        }
        let problem: Value = match serde_json::from_slice(&self.body) {
            Ok(problem) => problem,
            Err(e) => return Some(format!("problem body is not JSON: {e}")),
        };
        let well_formed = problem["status"] == status
            && problem["title"].is_string()
            && problem["detail"].is_string();
        (!well_formed).then(|| format!("malformed problem {problem}"))
    }

    pub fn describe(&self) -> String {
        let origin = if self.by_app() {
            if self.status >= 400 {
                "problem+json"
            } else {
                "app"
            }
        } else {
            "hyper, no body"
        };
        format!("{} {origin}", self.status)
    }
}

/// What came back on one connection.
pub struct Exchange {
    pub answers: Vec<Answer>,
    /// The server closed the connection (rather than keeping it open).
    pub closed: bool,
    /// When the first answer was complete.
    pub answered_at: Option<Instant>,
}

/// Sends `raw` on a new connection and reads what comes back.
pub async fn exchange(app: &TestApp, raw: &[u8]) -> Exchange {
    let mut stream = connect(app).await;
    // The server may answer and close before reading everything (a 431).
    let _ = stream.write_all(raw).await;
    read_answers(&mut stream).await
}

pub async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("a connection to the app")
}

/// Reads answers until the server closes the connection, or until 300 ms
/// after the first answer (time enough for a smuggled request to be
/// answered too), or for three seconds at most.
pub async fn read_answers(stream: &mut (impl AsyncRead + Unpin)) -> Exchange {
    let mut deadline = Instant::now() + Duration::from_secs(3);
    let mut answered_at = None;
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let closed = loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => break false,
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(n)) => bytes.extend_from_slice(&chunk[..n]),
        }
        if answered_at.is_none() && !parse_answers(&bytes).is_empty() {
            answered_at = Some(Instant::now());
            deadline = deadline.min(Instant::now() + Duration::from_millis(300));
        }
    };
    Exchange {
        answers: parse_answers(&bytes),
        closed,
        answered_at,
    }
}

fn parse_answers(mut bytes: &[u8]) -> Vec<Answer> {
    let mut answers = Vec::new();
    while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let rest = &bytes[end + 4..];
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(rest.len())
            .min(rest.len());
        answers.push(Answer {
            status,
            headers,
            body: rest[..length].to_vec(),
        });
        bytes = &rest[length..];
    }
    answers
}
