//! Parameters and response headers several operations share, for the
//! OpenAPI document only (the handlers parse them in `extract`).

#![allow(dead_code)] // Read by the derive macros, never by code.

use utoipa::IntoParams;

use super::schemas::OrderStatusSchema;

/// A resource id in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    /// A decimal integer id; anything else (`abc`, `1.5`, `0x10`) is 400.
    #[param(minimum = 1, example = 1)]
    id: i64,
}

/// `Idempotency-Key` on a `POST`.
#[derive(IntoParams)]
#[into_params(names("Idempotency-Key"), parameter_in = Header)]
pub struct IdempotencyKeyHeader(
    /// 1 to 255 printable characters. The first request with a key runs;
    /// a repeat with the same body within 24 hours gets the first answer
    /// back (with `Idempotent-Replayed: true`), another body is 422, and a
    /// repeat while the first still runs is 409.
    #[param(min_length = 1, max_length = 255, nullable = false)]
    Option<String>,
);

/// `If-Match` on an update.
#[derive(IntoParams)]
#[into_params(names("If-Match"), parameter_in = Header)]
pub struct IfMatchHeader(
    /// An `ETag` from an earlier answer; 412 when the resource has changed since.
    #[param(nullable = false, example = "\"3\"")]
    Option<String>,
);

/// Keyset pagination.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page; 50 when left out.
    #[param(minimum = 1, maximum = 200, nullable = false)]
    limit: Option<u16>,
    /// The `next_cursor` of the page before, as given.
    #[param(nullable = false)]
    after: Option<String>,
}

/// An order status filter.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Only orders in this status.
    #[param(nullable = false, inline)]
    status: Option<OrderStatusSchema>,
}
