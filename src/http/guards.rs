//! What stands between the router and every answer, as one middleware:
//! from the outside, the problem+json rewrite of bare errors, one budget
//! for waiting out a failover (`app::one_request`), the request timeout,
//! and the API-key check. One layer instead of three: each
//! `from_fn` layer boxes its inner service and its future per request,
//! which showed in the profile (docs/performance.md, "Where the CPU goes").

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{auth, deadline, error};
use crate::app::{self, App};

/// What the guards need: the use cases (for the key check) and the
/// request timeout.
#[derive(Clone)]
pub struct Guards {
    pub app: Arc<App>,
    pub request_timeout: Duration,
}

/// The order matters: the timeout's own bare 503 must pass through the
/// problem+json rewrite, and the key check runs within the timeout.
/// The check comes before routing, so that a caller without a valid key
/// learns nothing of which `/api/` paths exist (401 for unknown ones and
/// wrong methods too).
pub async fn guard(State(guards): State<Guards>, request: Request, next: Next) -> Response {
    let app = &guards.app;
    let response = app::one_request(deadline::within(
        guards.request_timeout,
        request,
        |request| auth::require_api_key(app, request, next),
    ))
    .await;
    error::problem_for_bare_error(response)
}
