//! `GET /api/v1/events`: the feed, and the event JSON that the feed and
//! webhook deliveries share.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::extract::QueryParams;
use super::openapi::schemas::{EventPageSchema, ProblemSchema};
use super::openapi::Failures;
use super::orders::OrderBody;
use super::responses::Timestamp;
use super::users::UserBody;
use super::AppState;
use crate::app::events::FeedRequest;
use crate::app::Caller;
use crate::domain::{Change, Event, EventType, FeedPosition, Limit};

/// An event as the feed shows it and webhooks send it.
#[derive(Serialize)]
pub struct EventBody<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    created_at: Timestamp,
    data: EventData<'a>,
    /// On `order.status_changed` only: the status the order left.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_status: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum EventData<'a> {
    User(UserBody<'a>),
    Order(OrderBody),
}

impl<'a> From<&'a Event> for EventBody<'a> {
    fn from(event: &'a Event) -> Self {
        let (data, previous_status) = match &event.change {
            Change::User(user) => (EventData::User(user.into()), None),
            Change::Order(order) => (EventData::Order(order.into()), None),
            Change::OrderMoved { order, previous } => {
                (EventData::Order(order.into()), Some(previous.as_str()))
            }
        };
        Self {
            id: event.id.to_string(),
            kind: event.kind.as_str(),
            created_at: Timestamp(event.created_at),
            data,
            previous_status,
        }
    }
}

/// The bytes a webhook delivery sends: the event as the feed shows it.
pub fn event_json(event: &Event) -> Vec<u8> {
    serde_json::to_vec(&EventBody::from(event)).expect("events serialise")
}

#[derive(Serialize)]
struct EventPage<'a> {
    items: Vec<EventBody<'a>>,
    next_cursor: Option<String>,
}

/// The query of `GET /api/v1/events`.
fn parse_feed_query(query: &QueryParams) -> Result<FeedRequest, ApiError> {
    let query = query.only(&["after", "limit", "type"])?;
    let after = query.get("after").map(FeedPosition::decode).transpose();
    let limit = query.get("limit").map(Limit::parse).transpose();
    let types = query.get("type").map(EventType::parse_list).transpose();
    Ok(FeedRequest {
        after: after.map_err(ApiError::BadRequest)?.unwrap_or_default(),
        limit: limit.map_err(ApiError::BadRequest)?.unwrap_or_default(),
        types: types.map_err(ApiError::BadRequest)?,
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    operation_id = "list_events",
    summary = "Follow the event feed",
    description = "Every committed change, once, in feed order: follow `next_cursor` and no \
        event is ever skipped, however writes interleave. An event appears once no \
        transaction still running could commit one before it, so a long-running \
        transaction on the database delays the feed (it never reorders it). Events are \
        kept for `--event-retention-days` (30 by default).",
    params(
        ("after" = Option<String>, Query, description = "A `next_cursor` from an earlier page: the events after it"),
        ("limit" = Option<u16>, Query, minimum = 1, maximum = 200, description = "At most this many events (default 50)"),
        ("type" = Option<String>, Query, description = "Only these types, comma-separated (`order.created,order.status_changed`)"),
    ),
    responses(
        (status = 200, description = "A page of events in feed order", body = EventPageSchema),
        (status = 400, description = "A bad cursor, limit or type", body = ProblemSchema, content_type = "application/problem+json"),
        Failures,
    )
)]
pub async fn list(
    State(app): State<AppState>,
    _: Caller,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let request = parse_feed_query(&query)?;
    let events = app.events(&request).await?;
    // Past the last event served; where none was, where the caller stood
    // (null only when it stood nowhere yet): keep polling with it.
    let next_cursor = match events.last() {
        Some(last) => Some(last.position.encode()),
        None => query.get("after").map(str::to_owned),
    };
    let page = EventPage {
        items: events.iter().map(EventBody::from).collect(),
        next_cursor,
    };
    Ok(Json(page).into_response())
}
