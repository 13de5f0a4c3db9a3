//! Request-wide middleware: one log line per request, and problem+json for
//! the error answers the framework writes itself.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::error::{problem_response, LoggedCause, PROBLEM_JSON};

/// Logs method, route template, status and latency once per request, and the
/// hidden cause of any 5xx.
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

/// Rewrites the framework's own bare error answers (405 with `Allow`, the
/// timeout's 503) into problem+json, keeping their headers.
pub async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "this route does not allow that method; see the Allow header".to_owned()
        }
        StatusCode::SERVICE_UNAVAILABLE => "the request took too long; retry shortly".to_owned(),
        other => other.canonical_reason().unwrap_or("error").to_owned(),
    };
    let problem = problem_response(status, "about:blank", detail, None);
    let (problem_parts, body) = problem.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        problem_parts.headers[header::CONTENT_TYPE].clone(),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        parts
            .headers
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    Response::from_parts(parts, Body::new(body))
}
