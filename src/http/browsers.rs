//! What browsers need: CORS for pages on other origins (off unless
//! origins are configured), and compressed bodies for clients that ask.
//! Both are tower-http's layers; only the choices are ours.

use axum::http::{header, HeaderName, HeaderValue, Method};
use std::time::Duration;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Bodies smaller than this go out as they are: below about a packet,
/// gzip saves no round trip and costs CPU on both sides.
const COMPRESS_ABOVE: u16 = 1024;

/// How long a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// CORS for exactly `origins` (each `scheme://host[:port]`, checked by
/// the configuration): the API's methods, the headers its clients send,
/// and the response headers their scripts read. `None` without origins:
/// no CORS header on any answer.
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .map(|o| HeaderValue::from_str(o).expect("origins are checked as configuration"))
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::RETRY_AFTER,
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("idempotent-replayed"),
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

/// gzip for clients that send `Accept-Encoding: gzip`, on bodies over
/// `COMPRESS_ABOVE` bytes that are not already compressed (images).
pub fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .gzip(true)
        .compress_when(SizeAbove::new(COMPRESS_ABOVE).and(NotForContentType::IMAGES))
}
