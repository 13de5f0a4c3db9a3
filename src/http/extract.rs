//! Extractors that turn raw request parts into checked values, answering
//! every failure with our own problem+json instead of axum's plain text.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, Request};
use axum::http::{header, request::Parts, HeaderMap};
use serde_json::Value;

use super::error::ApiError;
use crate::domain::digits::parse_digits;
use crate::domain::{Cursor, IdempotencyKey, Limit, PageRequest, Precondition, Version};

/// Largest accepted body: exactly 64 KiB is fine, one byte more is 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A request body that is `application/json`, within the limit, and valid
/// JSON. What the JSON must contain is each handler's business. The raw
/// bytes are kept: idempotency compares bodies byte for byte.
#[derive(Debug)]
pub struct JsonBody {
    pub value: Value,
    pub raw: bytes::Bytes,
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|len| len > DRAIN_LIMIT as u64) {
            // Far too large to read through: refuse at once and let the
            // connection close.
            return Err(ApiError::PayloadTooLarge(BODY_LIMIT));
        }
        Self::parse(read_limited(req.into_body()).await?)
    }
}

impl JsonBody {
    /// The body's bytes, read within the limit, as JSON: an empty or
    /// whitespace-only body, or one that is not JSON, is 400.
    pub fn parse(bytes: bytes::Bytes) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest(
                "the request body is empty; send a JSON object".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(|value| JsonBody {
                value,
                raw: bytes.clone(),
            })
            .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))
    }
}

/// Bodies up to this size are read to the end even when over the limit, so
/// that the client, still sending, gets the 413 instead of a reset
/// connection; beyond it the service stops reading.
const DRAIN_LIMIT: usize = 1024 * 1024;

/// Reads a body of any framing (declared length or chunked) up to the limit.
async fn read_limited(body: Body) -> Result<bytes::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut bytes = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::BadRequest(format!("the request body could not be read: {e}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen > DRAIN_LIMIT {
            break;
        }
        if seen <= BODY_LIMIT {
            bytes.extend_from_slice(&data);
        }
    }
    if seen > BODY_LIMIT {
        return Err(ApiError::PayloadTooLarge(BODY_LIMIT));
    }
    Ok(bytes.freeze())
}

/// `application/json` in any letter case, with `charset=utf-8` or no parameters.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let essence_ok = parts
        .next()
        .is_some_and(|m| m.eq_ignore_ascii_case("application/json"));
    essence_ok
        && parts.filter(|p| !p.is_empty()).all(|param| {
            param.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("charset")
                    && v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            })
        })
}

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

/// The raw `Idempotency-Key` header, if any; `parse` checks it against the
/// body it came with.
#[derive(Debug)]
pub struct IdempotencyHeader(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Self::from_headers(&parts.headers)
    }
}

impl IdempotencyHeader {
    /// The header as sent, if any: a value that is not visible ASCII is 400.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        match headers.get("idempotency-key") {
            None => Ok(Self(None)),
            Some(value) => value
                .to_str()
                .map(|v| Self(Some(v.to_owned())))
                .map_err(|_| {
                    ApiError::BadRequest(
                        "`Idempotency-Key` must be printable ASCII characters".into(),
                    )
                }),
        }
    }

    /// The key for `scope`, fingerprinted with the raw body; a malformed key
    /// is 400 and nothing runs.
    pub fn parse(
        self,
        scope: &'static str,
        body: &JsonBody,
    ) -> Result<Option<IdempotencyKey>, ApiError> {
        self.0
            .map(|raw| IdempotencyKey::parse(scope, &raw, &body.raw))
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_type(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn json_media_type_accepts_any_case_and_utf8_charset() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(is_json(&with_type(ok)), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/jsonx",
            "application/json; charset=latin1",
            "application/x-www-form-urlencoded",
        ] {
            assert!(!is_json(&with_type(bad)), "{bad}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
