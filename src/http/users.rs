//! `/api/v1/users`: create, read, update, delete and list users.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::extract::{Id, IfMatch, JsonBody, QueryParams};
use super::fields::{string, Fields};
use super::{page_request, AppState, Page};
use crate::domain::{Email, NewUser, User, UserName, UserPatch};

/// A user as the API shows it: exactly these keys.
#[derive(Serialize)]
pub struct UserBody {
    id: i64,
    email: String,
    name: String,
    created_at: String,
    updated_at: String,
}

impl From<User> for UserBody {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            created_at: super::timestamp(u.created_at),
            updated_at: super::timestamp(u.updated_at),
            email: u.email,
            name: u.name,
        }
    }
}

fn parse_new_user(body: JsonBody) -> Result<NewUser, ApiError> {
    let mut fields = Fields::of_body(body.0)?;
    let email = fields.required("email", |v| Email::parse(string(v)?));
    let name = fields.required("name", |v| UserName::parse(string(v)?));
    fields.finish()?;
    // `finish` succeeded, so both fields parsed.
    Ok(NewUser {
        email: email.expect("checked"),
        name: name.expect("checked"),
    })
}

fn parse_user_patch(body: JsonBody) -> Result<UserPatch, ApiError> {
    let mut fields = Fields::of_body(body.0)?;
    let email = fields.optional("email", |v| Email::parse(string(v)?));
    let name = fields.optional("name", |v| UserName::parse(string(v)?));
    let patch = UserPatch { email, name };
    if patch.email.is_none() && patch.name.is_none() {
        fields.reject_body("give at least one of `email` and `name`");
    }
    fields.finish()?;
    Ok(patch)
}

/// The user with its `ETag`, and a status.
fn user_response(
    status: StatusCode,
    user: User,
    extra: Option<(header::HeaderName, String)>,
) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(etag) = HeaderValue::from_str(&user.version().etag()) {
        headers.insert(header::ETAG, etag);
    }
    if let Some((name, value)) = extra {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (status, headers, Json(UserBody::from(user))).into_response()
}

pub async fn create(State(app): State<AppState>, body: JsonBody) -> Result<Response, ApiError> {
    let new = parse_new_user(body)?;
    let user = app.store.create_user(&new).await?;
    let location = format!("/api/v1/users/{}", user.id);
    Ok(user_response(
        StatusCode::CREATED,
        user,
        Some((header::LOCATION, location)),
    ))
}

pub async fn get(State(app): State<AppState>, Id(id): Id) -> Result<Response, ApiError> {
    let user = app.store.get_user(id).await?;
    Ok(user_response(StatusCode::OK, user, None))
}

/// `PUT` and `PATCH` alike: a partial update.
pub async fn update(
    State(app): State<AppState>,
    Id(id): Id,
    IfMatch(precondition): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let patch = parse_user_patch(body)?;
    let user = app.store.update_user(id, &patch, &precondition).await?;
    Ok(user_response(StatusCode::OK, user, None))
}

pub async fn delete(State(app): State<AppState>, Id(id): Id) -> Result<StatusCode, ApiError> {
    app.store.delete_user(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(
    State(app): State<AppState>,
    query: QueryParams,
) -> Result<Json<Page<UserBody>>, ApiError> {
    let query = query.only(&["limit", "after", "email"])?;
    let page = page_request(&query)?;
    let email = query.get("email").map(str::trim);
    if email
        .is_some_and(|e| e.is_empty() || e.chars().count() > crate::domain::user::EMAIL_MAX_CHARS)
    {
        return Err(ApiError::BadRequest(
            "`email` must be 1 to 254 characters".into(),
        ));
    }
    let users = app.store.list_users(&page, email).await?;
    Ok(Json(Page::from_rows(
        users,
        page.limit,
        |u| u.id,
        UserBody::from,
    )))
}
