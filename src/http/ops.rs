//! Operational routes, which need no API key: liveness, readiness,
//! metrics, and the answer for routes that do not exist.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::openapi::schemas::{ProblemSchema, StatusSchema};
use super::responses::status_body;
use super::{ApiError, AppState};
use crate::telemetry;

/// 200 while the process serves.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    summary = "Liveness",
    responses((status = 200, description = "The process serves", body = StatusSchema))
)]
pub async fn healthz() -> Response {
    status_body("ok").into_response()
}

/// 200 when the database answers, else 503 with `Retry-After`.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    summary = "Readiness: the database answers",
    responses(
        (status = 200, description = "The database answers", body = StatusSchema),
        (status = 503, description = "The database does not answer within 2 seconds",
         body = ProblemSchema, content_type = "application/problem+json",
         headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    )
)]
pub async fn readyz(State(app): State<AppState>) -> Result<Response, ApiError> {
    app.check_ready().await?;
    Ok(status_body("ready").into_response())
}

pub async fn not_found() -> ApiError {
    ApiError::NoRoute
}

/// Prometheus text: requests, latencies, database connections, idempotent
/// replays, dropped log lines, build info.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4",
               body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"))
)]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let text = telemetry::metrics::render(
        &app.connections(),
        &app.reads(),
        app.session_store_failures(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
