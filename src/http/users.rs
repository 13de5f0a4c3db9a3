//! `/api/v1/users`: create, read, update, delete and list users.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::created::{render_created, respond};
use super::error::ApiError;
use super::extract::{Id, IdempotencyHeader, IfMatch, JsonBody, QueryParams};
use super::fields::{string, Fields};
use super::{page_request, with_etag, AppState, Page, Timestamp};
use crate::domain::{Email, NewUser, StoredResponse, User, UserName, UserPatch};
use crate::storage::Idempotent;

/// A user as the API shows it: exactly these keys.
#[derive(Serialize)]
pub struct UserBody<'a> {
    id: i64,
    email: &'a str,
    name: &'a str,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl<'a> From<&'a User> for UserBody<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: u.id,
            email: &u.email,
            name: &u.name,
            created_at: Timestamp(u.created_at),
            updated_at: Timestamp(u.updated_at),
        }
    }
}

fn parse_new_user(body: serde_json::Value) -> Result<NewUser, ApiError> {
    let mut fields = Fields::of_body(body)?;
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
    let mut fields = Fields::of_body(body.value)?;
    let email = fields.optional("email", |v| Email::parse(string(v)?));
    let name = fields.optional("name", |v| UserName::parse(string(v)?));
    let patch = UserPatch { email, name };
    if patch.email.is_none() && patch.name.is_none() {
        fields.reject_body("give at least one of `email` and `name`");
    }
    fields.finish()?;
    Ok(patch)
}

/// A 200 with the user and its `ETag`.
fn user_response(user: &User) -> Response {
    with_etag(user.version(), UserBody::from(user))
}

fn render_user_created(user: &User) -> StoredResponse {
    let location = format!("/api/v1/users/{}", user.id);
    render_created(location, user.version().etag(), &UserBody::from(user))
}

pub async fn create(
    State(app): State<AppState>,
    key: IdempotencyHeader,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let key = key.parse("POST /api/v1/users", &body)?;
    // The key has fingerprinted the raw bytes; the parsed value can move.
    let new = parse_new_user(body.value)?;
    let idempotent = key.as_ref().map(|key| Idempotent {
        key,
        render: &render_user_created,
    });
    let created = app.store.create_user(&new, idempotent).await?;
    Ok(respond(created, render_user_created))
}

pub async fn get(State(app): State<AppState>, Id(id): Id) -> Result<Response, ApiError> {
    Ok(user_response(&app.store.get_user(id).await?))
}

/// `PUT` and `PATCH` alike: a partial update.
pub async fn update(
    State(app): State<AppState>,
    Id(id): Id,
    IfMatch(precondition): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let patch = parse_user_patch(body)?;
    Ok(user_response(
        &app.store.update_user(id, &patch, &precondition).await?,
    ))
}

pub async fn delete(State(app): State<AppState>, Id(id): Id) -> Result<StatusCode, ApiError> {
    app.store.delete_user(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(State(app): State<AppState>, query: QueryParams) -> Result<Response, ApiError> {
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
    // Serialised here, while the rows the page borrows from are alive.
    let page = Page::from_rows(&users, page.limit, |u| u.id, UserBody::from);
    Ok(Json(page).into_response())
}
