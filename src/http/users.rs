//! `/api/v1/users`: create, read, update, delete and list users. Each
//! handler parses the request, calls one use case, and renders.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::extract::{Id, IdempotencyHeader, IfMatch, JsonBody, QueryParams};
use super::field_reader::{string, FieldReader};
use super::openapi::params::{IdPath, IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use super::openapi::responses::UserUpdateResponses;
use super::openapi::schemas::{
    NewUserSchema, ProblemSchema, UserChangeSchema, UserPageSchema, UserSchema,
};
use super::openapi::{BodyFailures, Failures, WriteFailures};
use super::responses::{created, respond_created, with_etag, Page, Timestamp};
use super::AppState;
use crate::app::{Caller, Replayable};
use crate::domain::{Email, NewUser, PageRequest, SavedResponse, Scope, User, UserName, UserPatch};

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

/// A created user is answered, and replayed, as 201 with its `Location`.
impl Replayable for User {
    fn saved_response(&self) -> SavedResponse {
        let location = format!("/api/v1/users/{}", self.id);
        created(location, self.version(), &UserBody::from(self))
    }
}

/// The body of `POST /api/v1/users`.
pub fn parse_new_user(body: serde_json::Value) -> Result<NewUser, ApiError> {
    let mut fields = FieldReader::of_body(body)?;
    let email = fields.required("email", |v| Email::parse(string(v)?));
    let name = fields.required("name", |v| UserName::parse(string(v)?));
    fields.finish()?;
    // `finish` succeeded, so both fields parsed.
    Ok(NewUser {
        email: email.expect("checked"),
        name: name.expect("checked"),
    })
}

/// The body of `PUT`/`PATCH /api/v1/users/{id}`.
pub fn parse_user_patch(body: JsonBody) -> Result<UserPatch, ApiError> {
    let mut fields = FieldReader::of_body(body.value)?;
    let email = fields.optional("email", |v| Email::parse(string(v)?));
    let name = fields.optional("name", |v| UserName::parse(string(v)?));
    let patch = UserPatch { email, name };
    if patch.email.is_none() && patch.name.is_none() {
        fields.reject_body("give at least one of `email` and `name`");
    }
    fields.finish()?;
    Ok(patch)
}

/// The query of `GET /api/v1/users`: the page, and the address to filter
/// by (trimmed, not empty).
pub fn parse_list_query(query: &QueryParams) -> Result<(PageRequest, Option<&str>), ApiError> {
    let query = query.only(&["limit", "after", "email"])?;
    let page = query.page()?;
    let email = query.get("email").map(str::trim);
    if email.is_some_and(str::is_empty) {
        return Err(ApiError::BadRequest(
            "`email` must not be empty; leave it out to list every user".into(),
        ));
    }
    Ok((page, email))
}

/// A 200 with the user and its `ETag`.
fn user_response(user: &User) -> Response {
    with_etag(user.version(), UserBody::from(user))
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "create_user",
    summary = "Create a user",
    params(IdempotencyKeyHeader),
    request_body = NewUserSchema,
    responses(
        (status = 201, description = "Created (or, with `Idempotent-Replayed: true`, the first answer replayed)",
         body = UserSchema, headers(("Location" = String, description = "Where the new resource lives"), ("ETag" = String, description = "The version, for `If-Match`"), ("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`")),
         links(
            ("GetUser" = (operation_id = "get_user", parameters(("id" = "$response.body#/id")), description = "The created user")),
            ("UpdateUser" = (operation_id = "update_user", parameters(("id" = "$response.body#/id")), description = "Update the created user")),
            ("ReplaceUser" = (operation_id = "replace_user", parameters(("id" = "$response.body#/id")), description = "Update the created user (PUT)")),
            ("DeleteUser" = (operation_id = "delete_user", parameters(("id" = "$response.body#/id")), description = "Delete the created user")),
            ("ListUserOrders" = (operation_id = "list_user_orders", parameters(("id" = "$response.body#/id")), description = "The created user's orders"))
         )),
        (status = 409, description = "The e-mail address is taken, or a request with this `Idempotency-Key` is still running (then with `Retry-After`)",
         body = ProblemSchema, content_type = "application/problem+json",
         headers(("Retry-After" = u32, description = "Seconds to wait before retrying (a request with this key still running)"))),
        BodyFailures, WriteFailures, Failures,
    )
)]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    key: IdempotencyHeader,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let key = key.parse(Scope::CreateUser, &body)?;
    // The key has fingerprinted the raw bytes; the parsed value can move.
    let new = parse_new_user(body.value)?;
    let created = app.create_user(caller, new, key.as_ref()).await?;
    Ok(respond_created(created))
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "get_user",
    summary = "Get a user",
    params(IdPath),
    responses(
        (status = 200, description = "The user", body = UserSchema, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 404, description = "No such user", body = ProblemSchema, content_type = "application/problem+json"),
        Failures,
    )
)]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    Ok(user_response(&app.get_user(caller, id).await?))
}

/// `PUT`: a partial update, as `PATCH`.
#[utoipa::path(
    put,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "replace_user",
    summary = "Update a user (PUT, as PATCH)",
    params(IdPath, IfMatchHeader),
    request_body = UserChangeSchema,
    responses(UserUpdateResponses, BodyFailures, WriteFailures, Failures)
)]
pub async fn replace(
    state: State<AppState>,
    caller: Caller,
    id: Id,
    if_match: IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    update(state, caller, id, if_match, body).await
}

/// `PATCH`: a partial update; at least one field.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "update_user",
    summary = "Update a user",
    params(IdPath, IfMatchHeader),
    request_body = UserChangeSchema,
    responses(UserUpdateResponses, BodyFailures, WriteFailures, Failures)
)]
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
    IfMatch(precondition): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let patch = parse_user_patch(body)?;
    let updated = app.update_user(caller, id, patch, precondition).await?;
    Ok(user_response(&updated))
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "delete_user",
    summary = "Delete a user",
    params(IdPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The user has orders", body = ProblemSchema, content_type = "application/problem+json"),
        WriteFailures, Failures,
    )
)]
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, ApiError> {
    app.delete_user(caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `email` filters by address, case-insensitively: an address nobody has
/// (one longer than any address can be, say) is an empty page.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "list_users",
    summary = "List users",
    params(
        PageQuery,
        ("email" = Option<String>, Query, min_length = 1, description = "Only the user with this address, compared case-insensitively"),
    ),
    responses(
        (status = 200, description = "A page of users in id order", body = UserPageSchema),
        Failures,
    )
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let (page, email) = parse_list_query(&query)?;
    let users = app.list_users(caller, &page, email).await?;
    // Serialised here, while the rows the page borrows from are alive.
    let page = Page::from_rows(&users, page.limit, |u| u.id, UserBody::from);
    Ok(Json(page).into_response())
}
