//! Every request's id, log line and metrics.
//!
//! The id is the client's `x-request-id` when it is sane (1 to 128
//! characters from `A-Z a-z 0-9 - _ . :`), else a new UUID. It is echoed
//! on the response, carried by every log line written while the request
//! runs (a span), and put into the body of a 5xx so that a user's report
//! leads to the log lines.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;

use super::request_context::{with_request_id, LoggedCause};
use crate::telemetry::metrics;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const REQUEST_ID_MAX_LEN: usize = 128;

/// The route label of requests that matched no route: one label for all,
/// so that scanners cannot grow the metrics without bound.
const UNMATCHED: &str = "<unmatched>";

pub async fn track_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|id| is_sane(id.as_bytes()))
        .cloned()
        .unwrap_or_else(new_request_id);
    let method = method_label(request.method());
    // A clone of the matched template is a reference count, not a copy.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    // The id is the task's while the request runs, and every log line
    // written meanwhile carries it, the request's own line included
    // (`telemetry::request_id`).
    with_request_id(id.clone(), async move {
        let mut response = next.run(request).await;
        response.headers_mut().insert(X_REQUEST_ID.clone(), id);
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        let route = matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        metrics::record_request(method, route, status, elapsed);
        let latency_us = elapsed.as_micros() as u64;
        match response.extensions().get::<LoggedCause>() {
            Some(LoggedCause(cause)) => {
                tracing::error!(method, %route, status, latency_us, cause = %cause, "request failed")
            }
            None => tracing::info!(method, %route, status, latency_us, "request"),
        }
        response
    })
    .await
}

/// Printable, short, and free of anything a log reader could mistake for
/// structure (spaces, quotes, newlines).
fn is_sane(id: &[u8]) -> bool {
    (1..=REQUEST_ID_MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn new_request_id() -> HeaderValue {
    let id = uuid::Uuid::new_v4();
    HeaderValue::from_str(
        id.hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    )
    .expect("a UUID is a valid header value")
}

/// The method as a metrics label: the standard ones by name, any other
/// under one label, so that made-up methods cannot grow the metrics.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_short_and_plain() {
        assert!(is_sane(b"req-42"));
        assert!(is_sane(b"3f2b8c1e-1d2a-4b7e-9c3d-2a1b0c9d8e7f"));
        assert!(is_sane(&[b'a'; REQUEST_ID_MAX_LEN]));
        assert!(!is_sane(b""));
        assert!(!is_sane(&[b'a'; REQUEST_ID_MAX_LEN + 1]));
        assert!(!is_sane(b"two words"));
        assert!(!is_sane(b"line\nbreak"));
        assert!(!is_sane(b"quote\""));
    }

    #[test]
    fn new_ids_are_sane_and_differ() {
        let (a, b) = (new_request_id(), new_request_id());
        assert!(is_sane(a.as_bytes()));
        assert_ne!(a, b);
    }

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
    }
}
