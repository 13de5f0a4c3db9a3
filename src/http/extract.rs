//! Extractors that turn raw request parts into checked values, answering
//! every failure with our own problem+json instead of axum's plain text:
//! the path's id and the query here, the body (`body`) and the headers
//! (`headers`) beside.

use axum::extract::{FromRequestParts, Path, RawQuery};
use axum::http::request::Parts;

use super::error::ApiError;
use crate::domain::digits::parse_digits;
use crate::domain::{Cursor, Limit, PageRequest};

mod body;
mod headers;

pub use body::{is_json, JsonBody, BODY_LIMIT};
pub use headers::{IdempotencyHeader, IfMatch};

/// A resource id from the path: decimal digits only, within 64 bits.
#[derive(Debug)]
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| bad_id())?;
        Self::parse(&raw)
    }
}

impl Id {
    /// The id segment of a path, percent-decoded: decimal digits only.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        parse_digits(raw).map(Id).ok_or_else(bad_id)
    }
}

fn bad_id() -> ApiError {
    ApiError::BadRequest("the id in the path must be a positive decimal integer".into())
}

/// Query parameters as name/value pairs; each name at most once, and only
/// the names the route knows (a typo is an error, not a silent no-op).
/// Bytes that are not UTF-8 and control characters (a NUL byte, say) are
/// refused in names and values alike, before any of them can reach a
/// database.
#[derive(Debug)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let RawQuery(raw) = RawQuery::from_request_parts(parts, state)
            .await
            .unwrap_or(RawQuery(None));
        Self::parse(raw.as_deref().unwrap_or(""))
    }
}

impl QueryParams {
    /// A raw query string (still percent-encoded, without the `?`).
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        // serde_urlencoded would turn bytes that are not UTF-8 (a lone
        // surrogate, say) into U+FFFD and carry on; refuse them instead.
        if percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .is_err()
        {
            return Err(ApiError::BadRequest(
                "the query string is not valid UTF-8".into(),
            ));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| ApiError::BadRequest("the query string is malformed".into()))?;
        let has_control = |text: &str| text.chars().any(char::is_control);
        if pairs.iter().any(|(n, v)| has_control(n) || has_control(v)) {
            return Err(ApiError::BadRequest(
                "the query string must not contain control characters".into(),
            ));
        }
        Ok(Self(pairs))
    }

    /// Checks every name is in `known` and appears once.
    pub fn only(&self, known: &[&str]) -> Result<&Self, ApiError> {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if !known.contains(&name.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter `{name}`; this route takes {}",
                    known.join(", ")
                )));
            }
            if self.0[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::BadRequest(format!(
                    "query parameter `{name}` is given twice"
                )));
            }
        }
        Ok(self)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name` as a positive id, if given.
    pub fn positive_id(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|raw| match parse_digits::<i64>(raw) {
                Some(id) if id >= 1 => Ok(id),
                _ => Err(ApiError::BadRequest(format!(
                    "`{name}` must be a positive integer"
                ))),
            })
            .transpose()
    }

    /// `limit` and `after`.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = self.get("limit").map(Limit::parse).transpose();
        let limit = limit.map_err(ApiError::BadRequest)?.unwrap_or_default();
        let after = self.get("after").map(Cursor::decode).transpose();
        let after = after.map_err(ApiError::BadRequest)?;
        Ok(PageRequest { after, limit })
    }
}
