//! Operational routes, which need no API key: liveness, readiness,
//! metrics, and the answer for routes that do not exist.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::responses::status_body;
use super::{ApiError, AppState};
use crate::telemetry;

/// 200 while the process serves.
pub async fn healthz() -> Response {
    status_body("ok").into_response()
}

/// 200 when the database answers, else 503 with `Retry-After`.
pub async fn readyz(State(app): State<AppState>) -> Result<Response, ApiError> {
    app.check_ready().await?;
    Ok(status_body("ready").into_response())
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// Prometheus text: requests, latencies, database connections, idempotent
/// replays, dropped log lines, build info.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let text = telemetry::metrics::render(&app.connections());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
