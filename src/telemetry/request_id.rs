//! The id of the request a task is serving: set around each request by
//! the HTTP layer (`with_request_id`), read wherever the request is served
//! (`current_request_id`), the log lines written meanwhile included. A
//! task-local rather than a span per request: the log needs only the id,
//! and a span costs every request its creation, an enter and exit on every
//! poll, and its close.

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

/// Runs `f` with the id of the request this task is serving, without
/// cloning it.
pub fn with_current<R>(f: impl FnOnce(Option<&HeaderValue>) -> R) -> R {
    let mut f = Some(f);
    match REQUEST_ID.try_with(|id| (f.take().expect("called once"))(Some(id))) {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called yet"))(None),
    }
}
