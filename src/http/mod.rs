//! The HTTP layer: routes, extractors, the error mapping and middleware.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{middleware, Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use tower_http::timeout::TimeoutLayer;

use crate::domain::{Cursor, Limit, PageRequest};
use crate::storage::Store;

pub mod created;
pub mod error;
pub mod extract;
pub mod fields;
mod middleware_layers;
pub mod ops;
pub mod orders;
pub mod users;

pub use error::ApiError;
use extract::QueryParams;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
}

/// The whole application: every route and layer, as served by `main` and
/// by the tests.
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    Router::new()
        .route("/api/v1/users", get(users::list).post(users::create))
        .route(
            "/api/v1/users/{id}",
            get(users::get)
                .put(users::update)
                .patch(users::update)
                .delete(users::delete),
        )
        .route("/api/v1/users/{id}/orders", get(orders::list_for_user))
        .route("/api/v1/orders", get(orders::list).post(orders::create))
        .route(
            "/api/v1/orders/{id}",
            get(orders::get).put(orders::update).patch(orders::update),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .fallback(ops::not_found)
        .with_state(state)
        .layer(middleware::from_fn(
            middleware_layers::problem_for_bare_errors,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .layer(middleware::from_fn(middleware_layers::log_request))
}

/// A time as the API shows it: RFC 3339 in UTC with microseconds, ending in
/// `Z` (`2026-11-25T12:00:00.123456Z`). Written by hand into a stack buffer:
/// a page of users carries a hundred of these, and chrono's general-purpose
/// formatter was a visible share of a list request's CPU time.
#[derive(Debug, Clone, Copy)]
pub struct Timestamp(pub DateTime<Utc>);

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 27];
        match write_rfc3339_micros(self.0, &mut buf) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true)),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for years 0 to 9999; `None` outside them.
fn write_rfc3339_micros(at: DateTime<Utc>, buf: &mut [u8; 27]) -> Option<&str> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    // A leap second shows as :59.999999, as chrono's own formatter would not.
    let micros = (at.nanosecond() / 1_000).min(999_999);
    let fields: [(u32, usize); 7] = [
        (year, 4),
        (at.month(), 2),
        (at.day(), 2),
        (at.hour(), 2),
        (at.minute(), 2),
        (at.second(), 2),
        (micros, 6),
    ];
    let mut pos = 0;
    for (i, (mut value, width)) in fields.into_iter().enumerate() {
        for slot in buf[pos..pos + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        pos += width;
        buf[pos] = b"--T::.Z"[i];
        pos += 1;
    }
    std::str::from_utf8(&buf[..pos]).ok()
}

/// A 200 with `body` and the `ETag` of `version`.
pub fn with_etag(
    version: crate::domain::Version,
    body: impl Serialize,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let etag = axum::http::HeaderValue::from_str(&version.etag()).expect("ETags are ASCII");
    ([(axum::http::header::ETAG, etag)], Json(body)).into_response()
}

/// One page of a keyset-paginated list.
#[derive(Serialize)]
pub struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` holds up to `limit + 1` rows: the extra one only proves that a
    /// next page exists, so `next_cursor` is null exactly when none does.
    pub fn from_rows<'r, R>(
        rows: &'r [R],
        limit: Limit,
        id: impl Fn(&R) -> i64,
        show: impl Fn(&'r R) -> T,
    ) -> Self {
        let more = rows.len() > usize::from(limit.get());
        let rows = &rows[..rows.len().min(usize::from(limit.get()))];
        let next_cursor = more
            .then(|| rows.last().map(|r| Cursor { after_id: id(r) }.encode()))
            .flatten();
        Self {
            items: rows.iter().map(show).collect(),
            next_cursor,
        }
    }
}

/// `limit` and `after` from a query string.
pub fn page_request(query: &QueryParams) -> Result<PageRequest, ApiError> {
    let limit = query
        .get("limit")
        .map(Limit::parse)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let after = query
        .get("after")
        .map(Cursor::decode)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    Ok(PageRequest {
        after,
        limit: limit.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_chronos_rfc3339_with_micros() {
        for micros in [
            0_i64,
            1,
            1_764_072_000_123_456,
            253_402_300_799_999_999,
            951_782_400_000_010,
        ] {
            let at = DateTime::from_timestamp_micros(micros).unwrap();
            let ours = serde_json::to_string(&Timestamp(at)).unwrap();
            assert_eq!(
                ours,
                format!("\"{}\"", at.to_rfc3339_opts(SecondsFormat::Micros, true))
            );
        }
    }
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

fn status_body(status: &'static str) -> Json<Status> {
    Json(Status { status })
}
