//! The HTTP layer: the router. Handlers per resource parse requests into
//! domain types, call one use case of the application layer, and render.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{middleware, Router};
use tower_http::timeout::TimeoutLayer;

use crate::app::App;

pub mod error;
pub mod extract;
pub mod field_reader;
pub mod ops;
pub mod orders;
pub mod request_tracking;
pub mod responses;
pub mod users;

pub use error::ApiError;

/// What every handler reaches: the use cases.
pub type AppState = Arc<App>;

/// The whole application: every route and layer, as served by `main` and
/// by the tests.
pub fn router(app: AppState, request_timeout: Duration) -> Router {
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
        .route("/metrics", get(ops::metrics))
        .fallback(ops::not_found)
        .with_state(app)
        // Each layer wraps those above it: the timeout's own 503 must pass
        // through the problem+json rewrite, and the log sees every answer.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .layer(middleware::from_fn(error::problem_for_bare_errors))
        .layer(middleware::from_fn(request_tracking::track_request))
}
