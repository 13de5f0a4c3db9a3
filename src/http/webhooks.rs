//! `/api/v1/webhook-endpoints`: where events are delivered, for admin keys
//! only (a listing shows where data goes; a secret is shown once, when its
//! endpoint is made). Each handler checks the role, parses, calls one use
//! case, and renders.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::extract::{Id, JsonBody, QueryParams};
use super::field_reader::{string, FieldReader};
use super::openapi::params::IdPath;
use super::openapi::schemas::{
    CreatedWebhookEndpointSchema, DeliveryPageSchema, DeliverySchema, NewWebhookEndpointSchema,
    ProblemSchema, WebhookEndpointPageSchema, WebhookEndpointSchema,
};
use super::openapi::{BodyFailures, Failures, WriteFailures};
use super::responses::{Page, Timestamp};
use super::AppState;
use crate::app::{Caller, Denied};
use crate::domain::{
    Delivery, Endpoint, EndpointUrl, EventId, EventType, NewEndpoint, WebhookSecret,
};

/// An endpoint as the API shows it; its secret only when it is made.
#[derive(Serialize)]
pub struct EndpointBody<'a> {
    id: i64,
    url: &'a str,
    /// The types it receives; null for every type.
    events: Option<Vec<&'static str>>,
    enabled: bool,
    disabled_reason: Option<&'a str>,
    /// Failed attempts in a row (0 while it answers).
    failures: i32,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

impl<'a> EndpointBody<'a> {
    fn of(endpoint: &'a Endpoint, secret: Option<&'a WebhookSecret>) -> Self {
        Self {
            id: endpoint.id,
            url: &endpoint.url,
            events: (endpoint.event_types.as_ref()).map(|t| t.iter().map(|t| t.as_str()).collect()),
            enabled: endpoint.enabled,
            disabled_reason: endpoint.disabled_reason.as_deref(),
            failures: endpoint.failures,
            created_at: Timestamp(endpoint.created_at),
            secret: secret.map(WebhookSecret::expose),
        }
    }
}

#[derive(Serialize)]
pub struct DeliveryBody<'a> {
    event_id: String,
    event_type: &'static str,
    state: &'static str,
    attempts: i32,
    queued_at: Timestamp,
    next_attempt_at: Option<Timestamp>,
    last_attempt_at: Option<Timestamp>,
    last_status: Option<i32>,
    last_error: Option<&'a str>,
    finished_at: Option<Timestamp>,
}

impl<'a> From<&'a Delivery> for DeliveryBody<'a> {
    fn from(d: &'a Delivery) -> Self {
        Self {
            event_id: d.event_id.to_string(),
            event_type: d.event_type.as_str(),
            state: d.state.as_str(),
            attempts: d.attempts,
            queued_at: Timestamp(d.created_at),
            next_attempt_at: d.next_attempt_at.map(Timestamp),
            last_attempt_at: d.last_attempt_at.map(Timestamp),
            last_status: d.last_status,
            last_error: d.last_error.as_deref(),
            finished_at: d.finished_at.map(Timestamp),
        }
    }
}

fn admin_only(caller: Caller) -> Result<(), ApiError> {
    match caller.may_administer() {
        true => Ok(()),
        false => Err(Denied::NotAdmin.into()),
    }
}

/// The body of `POST /api/v1/webhook-endpoints`.
pub fn parse_new_endpoint(body: serde_json::Value) -> Result<NewEndpoint, ApiError> {
    let mut fields = FieldReader::of_body(body)?;
    let url = fields.required("url", |v| EndpointUrl::parse(string(v)?));
    let events = fields.optional("events", |v| {
        let list = v.as_array().ok_or("must be an array of event types")?;
        if list.is_empty() {
            return Err("must name at least one event type; leave it out for every type".into());
        }
        let names = list.iter().map(string).collect::<Result<Vec<_>, _>>()?;
        EventType::parse_list(&names.join(","))
    });
    fields.finish()?;
    Ok(NewEndpoint {
        url: url.expect("checked"),
        event_types: events,
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/webhook-endpoints",
    tag = "webhooks",
    operation_id = "create_webhook_endpoint",
    summary = "Add a webhook endpoint (admin)",
    description = "Events committed from now on are delivered to the URL, signed per Standard \
        Webhooks with the secret in the answer, which is shown only this once.",
    request_body = NewWebhookEndpointSchema,
    responses(
        (status = 201, description = "Added; the secret is shown only here", body = CreatedWebhookEndpointSchema,
         headers(("Location" = String, description = "Where the endpoint lives"))),
        (status = 403, description = "The key is not an admin key", body = ProblemSchema, content_type = "application/problem+json"),
        BodyFailures, WriteFailures, Failures,
    )
)]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    body: JsonBody,
) -> Result<Response, ApiError> {
    admin_only(caller)?;
    let new = parse_new_endpoint(body.value)?;
    let (endpoint, secret) = app.add_webhook(new).await?;
    let location = format!("/api/v1/webhook-endpoints/{}", endpoint.id);
    let body = Json(EndpointBody::of(&endpoint, Some(&secret)));
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::LOCATION, location)],
        body,
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/webhook-endpoints",
    tag = "webhooks",
    operation_id = "list_webhook_endpoints",
    summary = "List webhook endpoints (admin)",
    params(super::openapi::params::PageQuery),
    responses(
        (status = 200, description = "A page of endpoints in id order, without their secrets", body = WebhookEndpointPageSchema),
        (status = 403, description = "The key is not an admin key", body = ProblemSchema, content_type = "application/problem+json"),
        Failures,
    )
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Response, ApiError> {
    admin_only(caller)?;
    let page = query.only(&["limit", "after"])?.page()?;
    let endpoints = app.webhooks(&page).await?;
    let page = Page::from_rows(
        &endpoints,
        page.limit,
        |e| e.id,
        |e| EndpointBody::of(e, None),
    );
    Ok(Json(page).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/webhook-endpoints/{id}",
    tag = "webhooks",
    operation_id = "get_webhook_endpoint",
    summary = "Get a webhook endpoint (admin)",
    params(IdPath),
    responses(
        (status = 200, description = "The endpoint, without its secret", body = WebhookEndpointSchema),
        (status = 403, description = "The key is not an admin key", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint", body = ProblemSchema, content_type = "application/problem+json"),
        Failures,
    )
)]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    admin_only(caller)?;
    let endpoint = app.webhook(id).await?;
    Ok(Json(EndpointBody::of(&endpoint, None)).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/webhook-endpoints/{id}",
    tag = "webhooks",
    operation_id = "delete_webhook_endpoint",
    summary = "Remove a webhook endpoint and its deliveries (admin)",
    params(IdPath),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "The key is not an admin key", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint", body = ProblemSchema, content_type = "application/problem+json"),
        WriteFailures, Failures,
    )
)]
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, ApiError> {
    admin_only(caller)?;
    app.remove_webhook(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/webhook-endpoints/{id}/deliveries",
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    summary = "One endpoint's deliveries (admin)",
    params(IdPath, super::openapi::params::PageQuery),
    responses(
        (status = 200, description = "A page of deliveries, oldest event first", body = DeliveryPageSchema),
        (status = 403, description = "The key is not an admin key", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint", body = ProblemSchema, content_type = "application/problem+json"),
        Failures,
    )
)]
pub async fn deliveries(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
    query: QueryParams,
) -> Result<Response, ApiError> {
    admin_only(caller)?;
    let page = query.only(&["limit", "after"])?.page()?;
    let deliveries = app.webhook_deliveries(id, &page).await?;
    let page = Page::from_rows(&deliveries, page.limit, |d| d.seq, DeliveryBody::from);
    Ok(Json(page).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/webhook-endpoints/{id}/deliveries/{event_id}/resend",
    tag = "webhooks",
    operation_id = "resend_webhook_delivery",
    summary = "Send one event to one endpoint again, now (admin)",
    description = "Whatever became of the delivery (delivered, failed, pending), it is queued \
        again with a new retry period, and the endpoint's wait after failures is lifted.",
    params(
        ("id" = i64, Path, minimum = 1, description = "The endpoint's id; anything but a decimal integer is 400"),
        ("event_id" = String, Path, description = "The event's id, `evt_` and 32 hex digits; anything else is 400"),
    ),
    responses(
        (status = 202, description = "Queued; the delivery as it now stands", body = DeliverySchema),
        (status = 403, description = "The key is not an admin key", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint, or no delivery of that event to it", body = ProblemSchema, content_type = "application/problem+json"),
        WriteFailures, Failures,
    )
)]
pub async fn resend(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, event_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    admin_only(caller)?;
    let Id(id) = Id::parse(&id)?;
    let event = EventId::parse(&event_id).map_err(ApiError::BadRequest)?;
    let delivery = app.resend_webhook(id, event).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryBody::from(&delivery))).into_response())
}
