//! Sets of responses several operations share, for the OpenAPI document
//! only; each variant's doc comment is its description.

#![allow(dead_code)] // Read by the derive macros, never by code.

use utoipa::IntoResponses;

use super::schemas::{OrderSchema, ProblemSchema, UserSchema};

/// Failures any `/api/v1` request can meet.
#[derive(IntoResponses)]
pub enum Failures {
    /// A path or query parameter is malformed (`/users/abc`, `limit=0`), or the body is not JSON.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(ProblemSchema),
    /// API keys are configured and the request has none, or a malformed,
    /// unknown or revoked one.
    #[response(
        status = 401,
        content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"orderly\"`, with `error=\"invalid_token\"` for an unknown or revoked key"))
    )]
    Unauthorized(ProblemSchema),
    /// An internal error; the body names the request id its log lines carry.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(ProblemSchema),
    /// The database cannot be reached, has no free connection in time, or
    /// did not answer within the time limit. Retry after the given seconds.
    #[response(
        status = 503,
        content_type = "application/problem+json",
        headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))
    )]
    Unavailable(ProblemSchema),
}

/// The failure only a write can meet.
#[derive(IntoResponses)]
pub enum WriteFailures {
    /// The API key is a `read` key.
    #[response(
        status = 403,
        content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"orderly\", error=\"insufficient_scope\"`"))
    )]
    ReadOnlyKey(ProblemSchema),
}

/// Failures of a request body.
#[derive(IntoResponses)]
pub enum BodyFailures {
    /// The body did not arrive in full within the request timeout; the
    /// connection is closed.
    #[response(status = 408, content_type = "application/problem+json")]
    BodyTimeout(ProblemSchema),
    /// The body is over 65,536 bytes.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(ProblemSchema),
    /// The body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    NotJson(ProblemSchema),
    /// Well-formed JSON that breaks a rule; `errors` names each field.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(ProblemSchema),
}

/// What an update of a user answers, by `PUT` or `PATCH` alike, beside
/// `BodyFailures` and `Failures`.
#[derive(IntoResponses)]
pub enum UserUpdateResponses {
    /// The updated user
    #[response(status = 200, headers(("ETag" = String, description = "The version, for `If-Match`")))]
    Updated(UserSchema),
    /// No such user
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(ProblemSchema),
    /// The e-mail address is taken
    #[response(status = 409, content_type = "application/problem+json")]
    EmailTaken(ProblemSchema),
    /// `If-Match` names an older version
    #[response(status = 412, content_type = "application/problem+json")]
    Stale(ProblemSchema),
}

/// What a move of an order answers, by `PUT` or `PATCH` alike, beside
/// `BodyFailures` and `Failures`.
#[derive(IntoResponses)]
pub enum OrderMoveResponses {
    /// The moved order
    #[response(status = 200, headers(("ETag" = String, description = "The version, for `If-Match`")))]
    Moved(OrderSchema),
    /// No such order
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(ProblemSchema),
    /// The status machine does not allow this move
    #[response(status = 409, content_type = "application/problem+json")]
    IllegalMove(ProblemSchema),
    /// `If-Match` names an older version
    #[response(status = 412, content_type = "application/problem+json")]
    Stale(ProblemSchema),
}
