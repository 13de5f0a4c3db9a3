//! One log line per request: method, route template, status and latency,
//! and the hidden cause of any 5xx.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use super::error::LoggedCause;

pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let latency_us = started.elapsed().as_micros() as u64;
    match response.extensions().get::<LoggedCause>() {
        Some(LoggedCause(cause)) => {
            tracing::error!(%method, %route, status, latency_us, cause = %cause, "request failed")
        }
        None => tracing::info!(%method, %route, status, latency_us, "request"),
    }
    response
}
