//! How successful answers are written: timestamps, a resource with its
//! `ETag`, a page of a list, and a create (fresh or replayed under an
//! idempotency key, through the same bytes).

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::app::{Created, Replayable};
use crate::domain::{Cursor, Limit, SavedResponse, Version};

/// A time as the API shows it: RFC 3339 in UTC with microseconds, ending in
/// `Z` (`2026-11-25T12:00:00.123456Z`). Written by hand into a stack buffer:
/// a page of users carries a hundred of these, and chrono's general-purpose
/// formatter was a visible share of a list request's CPU time.
#[derive(Debug, Clone, Copy)]
pub struct Timestamp(pub DateTime<Utc>);

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 27];
        match write_rfc3339_micros(self.0, &mut buf) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true)),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for years 0 to 9999; `None` outside them.
fn write_rfc3339_micros(at: DateTime<Utc>, buf: &mut [u8; 27]) -> Option<&str> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    // A leap second shows as :59.999999, as chrono's own formatter would not.
    let micros = (at.nanosecond() / 1_000).min(999_999);
    let fields: [(u32, usize); 7] = [
        (year, 4),
        (at.month(), 2),
        (at.day(), 2),
        (at.hour(), 2),
        (at.minute(), 2),
        (at.second(), 2),
        (micros, 6),
    ];
    let mut pos = 0;
    for (i, (mut value, width)) in fields.into_iter().enumerate() {
        for slot in buf[pos..pos + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        pos += width;
        buf[pos] = b"--T::.Z"[i];
        pos += 1;
    }
    std::str::from_utf8(&buf[..pos]).ok()
}

/// A 200 with `body` and the `ETag` of `version`.
pub fn with_etag(version: Version, body: impl Serialize) -> Response {
    let etag = HeaderValue::from_str(&version.etag()).expect("ETags are ASCII");
    ([(header::ETAG, etag)], Json(body)).into_response()
}

/// One page of a keyset-paginated list.
#[derive(Serialize)]
pub struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` holds up to `limit + 1` rows: the extra one only proves that a
    /// next page exists, so `next_cursor` is null exactly when none does.
    pub fn from_rows<'r, R>(
        rows: &'r [R],
        limit: Limit,
        id: impl Fn(&R) -> i64,
        show: impl Fn(&'r R) -> T,
    ) -> Self {
        let more = rows.len() > usize::from(limit.get());
        let rows = &rows[..rows.len().min(usize::from(limit.get()))];
        let next_cursor = more
            .then(|| rows.last().map(|r| Cursor { after_id: id(r) }.encode()))
            .flatten();
        Self {
            items: rows.iter().map(show).collect(),
            next_cursor,
        }
    }
}

/// A 201 with `Location`, `ETag` and the JSON body, as data: what a fresh
/// create answers and what a repeat of it replays.
pub fn created(location: String, version: Version, body: &impl Serialize) -> SavedResponse {
    SavedResponse {
        status: StatusCode::CREATED.as_u16(),
        headers: vec![
            (header::LOCATION.to_string(), location),
            (header::ETAG.to_string(), version.etag()),
        ],
        body: serde_json::to_vec(body).expect("response bodies serialize"),
    }
}

/// The answer to a create, with `Idempotent-Replayed: true` on a replay.
pub fn respond_created<T: Replayable>(created: Created<T>) -> Response {
    let (saved, replayed) = match created {
        Created::New(resource) => (resource.saved_response(), false),
        Created::Replayed(saved) => (saved, true),
    };
    let mut response = Response::new(Body::from(saved.body));
    *response.status_mut() = StatusCode::from_u16(saved.status).unwrap_or(StatusCode::CREATED);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in saved.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// `{"status": "..."}`, the body of the ops routes.
#[derive(Serialize)]
pub struct Status {
    status: &'static str,
}

pub fn status_body(status: &'static str) -> Json<Status> {
    Json(Status { status })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_chronos_rfc3339_with_micros() {
        for micros in [
            0_i64,
            1,
            1_764_072_000_123_456,
            253_402_300_799_999_999,
            951_782_400_000_010,
        ] {
            let at = DateTime::from_timestamp_micros(micros).unwrap();
            let ours = serde_json::to_string(&Timestamp(at)).unwrap();
            assert_eq!(
                ours,
                format!("\"{}\"", at.to_rfc3339_opts(SecondsFormat::Micros, true))
            );
        }
    }
}
