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
