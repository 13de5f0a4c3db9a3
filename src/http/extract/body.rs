//! The request body: `application/json`, within the limit, valid JSON.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use serde_json::Value;

use crate::http::error::ApiError;

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
