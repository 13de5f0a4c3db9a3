//! The shapes of request and response bodies, for the OpenAPI document
//! only. This is a second description of each body, and utoipa forces it:
//! requests are read field by field (`field_reader`, so that one 422 lists
//! every bad field), which leaves no serde type to derive a schema from,
//! and utoipa takes limits only as literals, so the numbers below repeat
//! the domain's. Tests keep the two honest: the served document is checked
//! against real answers (schemathesis), and these limits against the
//! domain's constants (`the_schemas_carry_the_domains_limits`).

#![allow(dead_code)] // Read by the derive macros, never by code.

use serde::Serialize;
use utoipa::ToSchema;

/// A user. Responses have exactly these keys.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = User)]
pub struct UserSchema {
    #[schema(minimum = 1, example = 1)]
    id: i64,
    /// Trimmed; unique case-insensitively; stored as given.
    #[schema(max_length = 254, example = "ada@example.com")]
    email: String,
    /// Trimmed; no control characters.
    #[schema(min_length = 1, max_length = 200, example = "Ada")]
    name: String,
    #[schema(format = DateTime, example = "2026-11-25T12:00:00.123456Z")]
    created_at: String,
    #[schema(format = DateTime, example = "2026-11-25T12:00:00.123456Z")]
    updated_at: String,
}

/// A new user: both fields required, nothing else allowed.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewUser)]
pub struct NewUserSchema {
    /// A plausible address, `local@domain` with a dot in the domain.
    #[schema(
        min_length = 3,
        max_length = 254,
        pattern = r"^\S+@\S+\.\S+$",
        example = "ada@example.com"
    )]
    email: String,
    /// Not blank; no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
        example = "Ada"
    )]
    name: String,
}

/// A partial update: at least one of the fields.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UserChange, min_properties = 1)]
pub struct UserChangeSchema {
    #[schema(
        nullable = false,
        min_length = 3,
        max_length = 254,
        pattern = r"^\S+@\S+\.\S+$",
        example = "ada@example.org"
    )]
    email: Option<String>,
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
        example = "Ada Lovelace"
    )]
    name: Option<String>,
}

/// Where an order is in its life. Moves: pending → paid → shipped →
/// delivered; pending or paid → cancelled.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = OrderStatus)]
pub enum OrderStatusSchema {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

/// One line of an order.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LineItem)]
pub struct LineItemSchema {
    /// 1 to 64 printable characters.
    #[schema(min_length = 1, max_length = 64, example = "BOOK-1")]
    sku: String,
    #[schema(minimum = 1, maximum = 10_000, example = 2)]
    quantity: i64,
    /// In minor units of the order's currency (cents).
    #[schema(minimum = 0, maximum = 100_000_000, example = 1250)]
    unit_price: i64,
}

/// An order. Responses have exactly these keys.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Order)]
pub struct OrderSchema {
    #[schema(minimum = 1, example = 7)]
    id: i64,
    #[schema(minimum = 1, example = 1)]
    user_id: i64,
    status: OrderStatusSchema,
    /// ISO 4217, upper case.
    #[schema(pattern = "^[A-Z]{3}$", example = "USD")]
    currency: String,
    #[schema(min_items = 1, max_items = 100)]
    items: Vec<LineItemSchema>,
    /// The sum of quantity × unit_price, computed by the server.
    #[schema(minimum = 0, example = 2500)]
    total: i64,
    #[schema(format = DateTime, example = "2026-11-25T12:00:00.123456Z")]
    created_at: String,
    #[schema(format = DateTime, example = "2026-11-25T12:00:00.123456Z")]
    updated_at: String,
}

/// A new order; the server computes its total.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewOrder)]
pub struct NewOrderSchema {
    /// An existing user (422 on this field otherwise).
    #[schema(minimum = 1, example = 1)]
    user_id: i64,
    /// ISO 4217, upper case; `USD` when left out.
    #[schema(nullable = false, pattern = "^[A-Z]{3}$", example = "USD")]
    currency: Option<String>,
    #[schema(min_items = 1, max_items = 100)]
    items: Vec<LineItemSchema>,
}

/// A status move.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OrderChange)]
pub struct OrderChangeSchema {
    status: OrderStatusSchema,
}

/// A page of users, in id order.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UserPage)]
pub struct UserPageSchema {
    items: Vec<UserSchema>,
    /// Pass as `after` for the next page; null exactly when none follows.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// A page of orders, in id order.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OrderPage)]
pub struct OrderPageSchema {
    items: Vec<OrderSchema>,
    /// Pass as `after` for the next page; null exactly when none follows.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// One rejected field.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FieldError)]
pub struct FieldErrorSchema {
    /// As the client wrote it: `email`, `items[0].sku`.
    field: String,
    message: String,
}

/// An error, as `application/problem+json` (RFC 9457).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Problem)]
pub struct ProblemSchema {
    /// A relative URI per kind of failure, or `about:blank`.
    #[serde(rename = "type")]
    #[schema(example = "/problems/validation")]
    kind: String,
    title: String,
    #[schema(minimum = 400, maximum = 599)]
    status: u16,
    detail: String,
    /// On a 422 for the body: one entry per rejected field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    errors: Option<Vec<FieldErrorSchema>>,
    /// On a 5xx: the request's id, as in its `x-request-id` and its log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    request_id: Option<String>,
}

/// `/healthz` and `/readyz`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Status)]
pub struct StatusSchema {
    #[schema(example = "ok")]
    status: String,
}

/// What an event carries: the user or the order as the API shows it after
/// the change (a deleted user as it was).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = EventData)]
pub enum EventDataSchema {
    User(UserSchema),
    Order(OrderSchema),
}

/// The kinds of change.
#[derive(Serialize, ToSchema)]
#[schema(as = EventType)]
pub enum EventTypeSchema {
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated")]
    UserUpdated,
    #[serde(rename = "user.deleted")]
    UserDeleted,
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.status_changed")]
    OrderStatusChanged,
}

/// One committed change. The same JSON is the body of every webhook
/// delivery, whose `webhook-id` header is the event's `id`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Event)]
pub struct EventSchema {
    /// Unique and stable: deduplicate on it.
    #[schema(
        pattern = "^evt_[0-9a-f]{32}$",
        example = "evt_0f8fad5bd9cb469fa16570867728950e"
    )]
    id: String,
    #[serde(rename = "type")]
    kind: EventTypeSchema,
    #[schema(format = DateTime, example = "2026-11-25T12:00:00.123456Z")]
    created_at: String,
    data: EventDataSchema,
    /// On `order.status_changed` only: the status the order left.
    #[schema(nullable = false)]
    previous_status: Option<OrderStatusSchema>,
}

/// A page of the feed.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EventPage)]
pub struct EventPageSchema {
    items: Vec<EventSchema>,
    /// Pass as `after` to go on. Past the last event served; when none was,
    /// the `after` given (null only when none was given): keep polling with
    /// it, as the feed has no end.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// A new webhook endpoint.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewWebhookEndpoint)]
pub struct NewWebhookEndpointSchema {
    /// `http` or `https`, no credentials, at most 2000 characters. Loopback
    /// and private addresses are refused unless orderly runs with
    /// `--webhooks-allow-private`.
    #[schema(max_length = 2000, example = "https://hooks.example.com/orderly")]
    url: String,
    /// The types to receive; every type when left out.
    #[schema(nullable = false, min_items = 1)]
    events: Option<Vec<EventTypeSchema>>,
}

/// A webhook endpoint.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookEndpoint)]
pub struct WebhookEndpointSchema {
    #[schema(minimum = 1, example = 1)]
    id: i64,
    url: String,
    /// The types it receives; null for every type.
    #[schema(required = true)]
    events: Option<Vec<EventTypeSchema>>,
    /// False once the receiver answered 410 Gone.
    enabled: bool,
    #[schema(required = true)]
    disabled_reason: Option<String>,
    /// Failed attempts in a row; 0 while it answers.
    #[schema(minimum = 0)]
    failures: i32,
    #[schema(format = DateTime)]
    created_at: String,
}

/// A webhook endpoint just made, with its signing secret (shown only here).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreatedWebhookEndpoint)]
pub struct CreatedWebhookEndpointSchema {
    #[schema(minimum = 1, example = 1)]
    id: i64,
    url: String,
    #[schema(required = true)]
    events: Option<Vec<EventTypeSchema>>,
    enabled: bool,
    #[schema(required = true)]
    disabled_reason: Option<String>,
    #[schema(minimum = 0)]
    failures: i32,
    #[schema(format = DateTime)]
    created_at: String,
    /// Give it to a Standard Webhooks verifier, as it is.
    #[schema(pattern = "^whsec_[A-Za-z0-9+/=]+$")]
    secret: String,
}

/// A page of webhook endpoints.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookEndpointPage)]
pub struct WebhookEndpointPageSchema {
    items: Vec<WebhookEndpointSchema>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = DeliveryState)]
pub enum DeliveryStateSchema {
    Pending,
    Delivered,
    Failed,
}

/// One event's delivery to one endpoint.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Delivery)]
pub struct DeliverySchema {
    #[schema(pattern = "^evt_[0-9a-f]{32}$")]
    event_id: String,
    event_type: EventTypeSchema,
    state: DeliveryStateSchema,
    #[schema(minimum = 0)]
    attempts: i32,
    #[schema(format = DateTime)]
    queued_at: String,
    /// While pending: not before then.
    #[schema(required = true, format = DateTime)]
    next_attempt_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    last_attempt_at: Option<String>,
    /// The receiver's HTTP status at the last attempt, if it answered.
    #[schema(required = true)]
    last_status: Option<i32>,
    /// Why the last attempt failed (a refused connection, a timeout, a status).
    #[schema(required = true)]
    last_error: Option<String>,
    #[schema(required = true, format = DateTime)]
    finished_at: Option<String>,
}

/// A page of deliveries, oldest event first.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DeliveryPage)]
pub struct DeliveryPageSchema {
    items: Vec<DeliverySchema>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}
