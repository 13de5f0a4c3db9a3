//! The request timeout, and whom it blames.
//!
//! A request still running at the timeout is dropped and answered. If it
//! was waiting for its own body at that moment (a client that declared 48
//! bytes and sent 20, or sends one byte a second), the client is the slow
//! one: 408, and the connection closes, since the rest of that body may
//! still arrive on it. Otherwise the service was too slow (a locked table,
//! a database that does not answer): 503 with `Retry-After`, as before.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};

use super::ApiError;

/// Runs `answer` on the request, and answers for it if it takes longer
/// than `limit`.
pub async fn within<F, Fut>(limit: Duration, request: Request, answer: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let waiting = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(Watched {
            inner: body,
            waiting: waiting.clone(),
        })
    });
    match tokio::time::timeout(limit, answer(request)).await {
        Ok(response) => response,
        Err(_) if waiting.load(Ordering::Relaxed) => {
            ApiError::RequestTimeout(limit).into_response()
        }
        // Bare: the problem+json layer words it, with `Retry-After`.
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// A request body that records whether its reader is waiting for the
/// client: its last poll found no data yet.
struct Watched {
    inner: Body,
    waiting: Arc<AtomicBool>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        self.waiting.store(polled.is_pending(), Ordering::Relaxed);
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
