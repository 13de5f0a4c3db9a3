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

/// RFC 3339 in UTC with microseconds, ending in `Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
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
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: Limit,
        id: impl Fn(&R) -> i64,
        show: impl Fn(&R) -> T,
    ) -> Self {
        let more = rows.len() > usize::from(limit.get());
        rows.truncate(usize::from(limit.get()));
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

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

fn status_body(status: &'static str) -> Json<Status> {
    Json(Status { status })
}
