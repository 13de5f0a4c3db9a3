//! The headers a write may carry: `Idempotency-Key` and `If-Match`.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap};

use super::JsonBody;
use crate::domain::{IdempotencyKey, Precondition, Scope, Version};
use crate::http::error::ApiError;

/// The raw `Idempotency-Key` header, if any, and whose it is (the API key
/// that sent it); `parse` checks it against the body it came with.
#[derive(Debug)]
pub struct IdempotencyHeader {
    raw: Option<String>,
    owner: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let owner = crate::http::auth::caller(&parts.extensions)?.idempotency_owner();
        Self::from_headers(&parts.headers, owner)
    }
}

impl IdempotencyHeader {
    /// The header as sent, if any, for the API key `owner` (see
    /// `IdempotencyKey::owner`): a value that is not visible ASCII is 400.
    pub fn from_headers(headers: &HeaderMap, owner: i64) -> Result<Self, ApiError> {
        match headers.get("idempotency-key") {
            None => Ok(Self { raw: None, owner }),
            Some(value) => value
                .to_str()
                .map(|v| Self {
                    raw: Some(v.to_owned()),
                    owner,
                })
                .map_err(|_| {
                    ApiError::BadRequest(
                        "`Idempotency-Key` must be printable ASCII characters".into(),
                    )
                }),
        }
    }

    /// The key for `scope`, fingerprinted with the raw body; a malformed key
    /// is 400 and nothing runs.
    pub fn parse(self, scope: Scope, body: &JsonBody) -> Result<Option<IdempotencyKey>, ApiError> {
        self.raw
            .map(|raw| IdempotencyKey::parse(scope, self.owner, &raw, &body.raw))
            .transpose()
            .map_err(ApiError::BadRequest)
    }
}

/// The `If-Match` precondition. `*` matches any existing resource; tags we
/// did not issue (weak ones included: `If-Match` compares strongly) match
/// nothing, so they answer 412.
#[derive(Debug)]
pub struct IfMatch(pub Precondition);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self::from_headers(&parts.headers))
    }
}

impl IfMatch {
    /// Every `If-Match` header of a request; none at all is no precondition.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut values = headers.get_all(header::IF_MATCH).iter().peekable();
        if values.peek().is_none() {
            return Self(Precondition::None);
        }
        let mut versions = Vec::new();
        for value in values {
            let Ok(text) = value.to_str() else { continue };
            for tag in text.split(',').map(str::trim) {
                if tag == "*" {
                    return Self(Precondition::None);
                }
                versions.extend(Version::from_etag(tag));
            }
        }
        Self(Precondition::AnyOf(versions))
    }
}
