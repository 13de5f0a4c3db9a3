//! What the layers of one request share besides the request itself: its
//! id, readable wherever the request is being served (`current_request_id`),
//! and the cause of a failure, which the error that answers it hands to
//! the request logger (`LoggedCause`). A leaf: it imports neither side.

use std::future::Future;

use axum::http::HeaderValue;

tokio::task_local! {
    static REQUEST_ID: HeaderValue;
}

/// Runs `request` with `id` as its request id.
pub async fn with_request_id<F: Future>(id: HeaderValue, request: F) -> F::Output {
    REQUEST_ID.scope(id, request).await
}

/// The id of the request this task is serving, if any.
pub fn current_request_id() -> Option<HeaderValue> {
    REQUEST_ID.try_with(HeaderValue::clone).ok()
}

/// The cause of a 5xx, for the request logger: logged once, never sent.
#[derive(Debug, Clone)]
pub struct LoggedCause(pub String);
