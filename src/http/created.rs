//! Answers to creates: fresh or replayed under an idempotency key, they go
//! out through the same rendering, so a replay is byte-identical.

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;

use crate::domain::StoredResponse;
use crate::storage::Created;

/// Renders a 201 with `Location`, `ETag` and the JSON body, in storable form.
pub fn render_created(location: String, etag: String, body: &impl Serialize) -> StoredResponse {
    StoredResponse {
        status: StatusCode::CREATED.as_u16(),
        headers: vec![
            (header::LOCATION.to_string(), location),
            (header::ETAG.to_string(), etag),
        ],
        body: serde_json::to_vec(body).expect("response bodies serialize"),
    }
}

/// The response for a create, with `Idempotent-Replayed: true` on a replay.
pub fn respond<T>(created: Created<T>, render: impl Fn(&T) -> StoredResponse) -> Response {
    let (stored, replayed) = match created {
        Created::New(resource) => (render(&resource), false),
        Created::Replayed(stored) => (stored, true),
    };
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::CREATED);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
