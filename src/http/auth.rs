//! The API-key check in front of every `/api/` path, before routing: reads the bearer
//! token, asks the application layer who sent it, and hands the [`Caller`]
//! to the handlers, which pass it to their use case (idempotency keys and
//! read-your-writes are the caller's). Writes are every method but `GET`
//! and `HEAD`: a read-only key may not make them.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::app::access::Credential;
use crate::app::{App, Caller, Denied};

/// The guarded paths: the API, whatever its version.
const GUARDED: &str = "/api/";

pub async fn require_api_key(app: &App, mut request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with(GUARDED) {
        return next.run(request).await;
    }
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD);
    let credential = bearer_credential(request.headers());
    match app.access().authenticate(credential, writes) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(denied) => ApiError::from(denied).into_response(),
    }
}

/// A handler's caller, as `require_api_key` found it.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        caller(&parts.extensions)
    }
}

/// What the `Authorization` header holds: `Bearer <token>` (the scheme in
/// any letter case, RFC 9110), nothing, or something else.
fn bearer_credential(headers: &HeaderMap) -> Credential<'_> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return if headers.contains_key(header::AUTHORIZATION) {
            Credential::Unreadable
        } else {
            Credential::None
        };
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim_matches(' '))
        .filter(|token| !token.is_empty());
    token.map_or(Credential::Unreadable, Credential::Bearer)
}

/// Who sent the request, as `require_api_key` found it. A request it did
/// not pass (a handler that needs a caller, mounted where the check does
/// not run) is refused, never taken for anonymous: the check fails closed.
pub fn caller(extensions: &axum::http::Extensions) -> Result<Caller, ApiError> {
    extensions
        .get::<Caller>()
        .copied()
        .ok_or(ApiError::Unauthorized(Denied::Missing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn read(values: &[&'static str]) -> String {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_static(v));
        }
        match bearer_credential(&headers) {
            Credential::None => "none".into(),
            Credential::Unreadable => "unreadable".into(),
            Credential::Bearer(token) => format!("bearer {token}"),
        }
    }

    #[tokio::test]
    async fn a_request_the_key_check_did_not_pass_has_no_caller_and_is_refused() {
        let (mut unchecked, ()) = axum::http::Request::new(()).into_parts();
        let refused = Caller::from_request_parts(&mut unchecked, &()).await;
        assert!(
            matches!(refused, Err(ApiError::Unauthorized(Denied::Missing))),
            "{refused:?}"
        );

        let (mut checked, ()) = axum::http::Request::new(()).into_parts();
        checked.extensions.insert(Caller::Anonymous);
        let found = Caller::from_request_parts(&mut checked, &()).await;
        assert_eq!(
            found.unwrap(),
            Caller::Anonymous,
            "anonymous only when the check said so"
        );
    }

    #[test]
    fn bearer_tokens_are_read_in_any_scheme_case_and_nothing_else_is() {
        assert_eq!(read(&[]), "none");
        assert_eq!(read(&["Bearer abc"]), "bearer abc");
        assert_eq!(read(&["bearer  abc "]), "bearer abc");
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc", "Bearerabc"] {
            assert_eq!(read(&[bad]), "unreadable", "{bad}");
        }
        assert_eq!(read(&["Bearer a", "Bearer b"]), "unreadable");
    }
}
