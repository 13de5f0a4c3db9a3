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
            .map_err(|e| refusal(&bytes, &e))
    }
}

/// Why a body that did not parse is refused. Mostly it is not JSON (400).
/// But the parser also refuses JSON that is well-formed and merely beyond
/// what it takes: a number past the range of a double (`1e400`, 400
/// digits), or arrays and objects nested over 128 deep. Those are JSON
/// that breaks a rule, as `[]` or `2.5` for an integer are: 422.
fn refusal(bytes: &[u8], e: &serde_json::Error) -> ApiError {
    let beyond = |rule: &str| format!("{rule} (line {}, column {})", e.line(), e.column());
    // serde_json names these two only in its message.
    let rule = match e.to_string() {
        m if m.starts_with("number out of range") => {
            beyond("holds a number out of range, beyond what a 64-bit float holds")
        }
        m if m.starts_with("recursion limit exceeded") => {
            beyond("nests arrays or objects more than 128 levels deep")
        }
        _ => return ApiError::BadRequest(format!("the request body is not valid JSON: {e}")),
    };
    // Skimming checks the syntax without building values: no range, no depth.
    let well_formed = std::str::from_utf8(bytes)
        .is_ok_and(|text| serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok());
    if well_formed {
        ApiError::validation("body", rule)
    } else {
        ApiError::BadRequest(format!("the request body is not valid JSON: {e}"))
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
        let owner = super::auth::caller(&parts.extensions).idempotency_owner();
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
    pub fn parse(
        self,
        scope: &'static str,
        body: &JsonBody,
    ) -> Result<Option<IdempotencyKey>, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_type(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn refusal_of(body: &str) -> ApiError {
        let e = serde_json::from_str::<Value>(body).expect_err(body);
        refusal(body.as_bytes(), &e)
    }

    #[test]
    fn well_formed_json_beyond_the_parsers_limits_breaks_a_rule() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for body in [
            r#"{"quantity": 1e400}"#,
            r#"{"quantity": -1e400}"#,
            &format!(r#"{{"id": 1{}}}"#, "0".repeat(400)),
            &deep,
        ] {
            match refusal_of(body) {
                ApiError::Validation(errors) => assert_eq!(errors[0].field, "body"),
                other => panic!("{body}: {other:?}"),
            }
        }
        for not_json in [
            r#"{"quantity": 1e400"#,
            &"[".repeat(200),
            r#"{"name": "\ud800"}"#,
            "{",
        ] {
            assert!(
                matches!(refusal_of(not_json), ApiError::BadRequest(_)),
                "{not_json}"
            );
        }
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
