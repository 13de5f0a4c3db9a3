//! `/api/v1/orders` and `/api/v1/users/{id}/orders`: create, read, move
//! along the status machine, and list orders. Orders are never deleted
//! through the API (405); they are cancelled. Each handler parses the
//! request, calls one use case, and renders. (Longer than most modules:
//! six routes, each carrying the OpenAPI description it is registered by.)

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::extract::{Id, IdempotencyHeader, IfMatch, JsonBody, QueryParams};
use super::field_reader::{integer, string, FieldReader};
use super::openapi::params::{IdPath, IdempotencyKeyHeader, IfMatchHeader, PageQuery, StatusQuery};
use super::openapi::responses::OrderMoveResponses;
use super::openapi::schemas::{
    NewOrderSchema, OrderChangeSchema, OrderPageSchema, OrderSchema, ProblemSchema,
};
use super::openapi::{BodyFailures, Failures, WriteFailures};
use super::responses::{created, respond_created, with_etag, Page, Timestamp};
use super::AppState;
use crate::app::{Caller, Replayable};
use crate::domain::order::MAX_ITEMS;
use crate::domain::{
    Currency, LineItem, NewOrder, Order, OrderStatus, PageRequest, Quantity, SavedResponse, Scope,
    Sku, StoredItem, UnitPrice,
};
use crate::storage::OrderFilter;

/// An order as the API shows it: exactly these keys.
#[derive(Serialize)]
pub struct OrderBody {
    id: i64,
    user_id: i64,
    status: String,
    currency: String,
    items: Vec<ItemBody>,
    total: i64,
    created_at: Timestamp,
    updated_at: Timestamp,
}

#[derive(Serialize)]
struct ItemBody {
    sku: String,
    quantity: i64,
    unit_price: i64,
}

impl From<&Order> for OrderBody {
    fn from(o: &Order) -> Self {
        let item = |i: &StoredItem| ItemBody {
            sku: i.sku.clone(),
            quantity: i.quantity,
            unit_price: i.unit_price,
        };
        Self {
            id: o.id,
            user_id: o.user_id,
            status: o.status.as_str().to_owned(),
            currency: o.currency.clone(),
            items: o.items.iter().map(item).collect(),
            total: o.total,
            created_at: Timestamp(o.created_at),
            updated_at: Timestamp(o.updated_at),
        }
    }
}

/// A created order is answered, and replayed, as 201 with its `Location`.
impl Replayable for Order {
    fn saved_response(&self) -> SavedResponse {
        let location = format!("/api/v1/orders/{}", self.id);
        created(location, self.version(), &OrderBody::from(self))
    }
}

fn positive_id(value: &serde_json::Value) -> Result<i64, String> {
    match integer(value) {
        Ok(id) if id >= 1 => Ok(id),
        _ => Err("must be a positive integer".into()),
    }
}

fn parse_item(fields: &mut FieldReader) -> Option<LineItem> {
    let sku = fields.required("sku", |v| Sku::parse(string(v)?));
    let quantity = fields.required("quantity", |v| Quantity::parse(integer(v)?));
    let unit_price = fields.required("unit_price", |v| UnitPrice::parse(integer(v)?));
    Some(LineItem {
        sku: sku?,
        quantity: quantity?,
        unit_price: unit_price?,
    })
}

/// The body of `POST /api/v1/orders`.
pub fn parse_new_order(body: serde_json::Value) -> Result<NewOrder, ApiError> {
    let mut fields = FieldReader::of_body(body)?;
    let user_id = fields.required("user_id", positive_id);
    let currency = fields.optional("currency", |v| Currency::parse(string(v)?));
    let items = fields.objects("items", (1, MAX_ITEMS), parse_item);
    fields.finish()?;
    let (Some(user_id), Some(items)) = (user_id, items) else {
        unreachable!("finish reports any field that did not parse");
    };
    NewOrder::new(user_id, currency.unwrap_or_default(), items)
        .map_err(|message| ApiError::validation("items", message))
}

/// The body of `PUT`/`PATCH /api/v1/orders/{id}`: where the order moves.
pub fn parse_status_change(body: JsonBody) -> Result<OrderStatus, ApiError> {
    let mut fields = FieldReader::of_body(body.value)?;
    let status = fields.required("status", |v| OrderStatus::parse(string(v)?));
    fields.finish()?;
    Ok(status.expect("finish reports a status that did not parse"))
}

/// A 200 with the order and its `ETag`.
fn order_response(order: &Order) -> Response {
    with_etag(order.version(), OrderBody::from(order))
}

#[utoipa::path(
    post,
    path = "/api/v1/orders",
    tag = "orders",
    operation_id = "create_order",
    summary = "Create an order",
    params(IdempotencyKeyHeader),
    request_body = NewOrderSchema,
    responses(
        (status = 201, description = "Created, with its items, in one transaction (or, with `Idempotent-Replayed: true`, the first answer replayed)",
         body = OrderSchema, headers(("Location" = String, description = "Where the new resource lives"), ("ETag" = String, description = "The version, for `If-Match`"), ("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`")),
         links(
            ("GetOrder" = (operation_id = "get_order", parameters(("id" = "$response.body#/id")), description = "The created order")),
            ("UpdateOrder" = (operation_id = "update_order", parameters(("id" = "$response.body#/id")), description = "Move the created order")),
            ("ReplaceOrder" = (operation_id = "replace_order", parameters(("id" = "$response.body#/id")), description = "Move the created order (PUT)"))
         )),
        (status = 409, description = "A request with this `Idempotency-Key` is still running (with `Retry-After`)", body = ProblemSchema, content_type = "application/problem+json",
         headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
        BodyFailures, WriteFailures, Failures,
    )
)]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    key: IdempotencyHeader,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let key = key.parse(Scope::CreateOrder, &body)?;
    // The key has fingerprinted the raw bytes; the parsed value can move.
    let new = parse_new_order(body.value)?;
    let created = app.create_order(caller, new, key.as_ref()).await?;
    Ok(respond_created(created))
}

#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    tag = "orders",
    operation_id = "get_order",
    summary = "Get an order",
    params(IdPath),
    responses(
        (status = 200, description = "The order with its items", body = OrderSchema, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 404, description = "No such order", body = ProblemSchema, content_type = "application/problem+json"),
        Failures,
    )
)]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    Ok(order_response(&app.get_order(caller, id).await?))
}

/// `PUT`: `{status}` moves the order, as `PATCH`.
#[utoipa::path(
    put,
    path = "/api/v1/orders/{id}",
    tag = "orders",
    operation_id = "replace_order",
    summary = "Move an order (PUT, as PATCH)",
    params(IdPath, IfMatchHeader),
    request_body = OrderChangeSchema,
    responses(OrderMoveResponses, BodyFailures, WriteFailures, Failures)
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

/// `PATCH`: `{status}` moves the order along its status machine.
#[utoipa::path(
    patch,
    path = "/api/v1/orders/{id}",
    tag = "orders",
    operation_id = "update_order",
    summary = "Move an order along its status machine",
    params(IdPath, IfMatchHeader),
    request_body = OrderChangeSchema,
    responses(OrderMoveResponses, BodyFailures, WriteFailures, Failures)
)]
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    Id(id): Id,
    IfMatch(precondition): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let to = parse_status_change(body)?;
    let moved = app.move_order(caller, id, to, precondition).await?;
    Ok(order_response(&moved))
}

/// `status` from a query string, if given.
fn status_filter(query: &QueryParams) -> Result<Option<OrderStatus>, ApiError> {
    query
        .get("status")
        .map(OrderStatus::parse)
        .transpose()
        .map_err(|message| ApiError::BadRequest(format!("`status` {message}")))
}

/// The query of `GET /api/v1/orders`: the page and the filter.
pub fn parse_list_query(query: &QueryParams) -> Result<(PageRequest, OrderFilter), ApiError> {
    let query = query.only(&["user_id", "status", "limit", "after"])?;
    let page = query.page()?;
    let filter = OrderFilter {
        user_id: query.positive_id("user_id")?,
        status: status_filter(query)?,
    };
    Ok((page, filter))
}

/// The query of `GET /api/v1/users/{id}/orders`: the page and the status.
pub fn parse_user_list_query(
    query: &QueryParams,
) -> Result<(PageRequest, Option<OrderStatus>), ApiError> {
    let query = query.only(&["status", "limit", "after"])?;
    Ok((query.page()?, status_filter(query)?))
}

fn page_of(orders: &[Order], page: &PageRequest) -> Json<Page<OrderBody>> {
    Json(Page::from_rows(
        orders,
        page.limit,
        |o| o.id,
        OrderBody::from,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "orders",
    operation_id = "list_orders",
    summary = "List orders",
    params(
        ("user_id" = Option<i64>, Query, minimum = 1, nullable = false, description = "Only this user's orders (an unknown user: an empty page)"),
        StatusQuery, PageQuery,
    ),
    responses(
        (status = 200, description = "A page of orders in id order", body = OrderPageSchema),
        Failures,
    )
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Json<Page<OrderBody>>, ApiError> {
    let (page, filter) = parse_list_query(&query)?;
    let orders = app.list_orders(caller, &page, &filter).await?;
    Ok(page_of(&orders, &page))
}

/// A user's orders; 404 when the user does not exist.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/orders",
    tag = "orders",
    operation_id = "list_user_orders",
    summary = "List a user's orders",
    params(IdPath, StatusQuery, PageQuery),
    responses(
        (status = 200, description = "A page of the user's orders in id order", body = OrderPageSchema),
        (status = 404, description = "No such user", body = ProblemSchema, content_type = "application/problem+json"),
        Failures,
    )
)]
pub async fn list_for_user(
    State(app): State<AppState>,
    caller: Caller,
    Id(user_id): Id,
    query: QueryParams,
) -> Result<Json<Page<OrderBody>>, ApiError> {
    let (page, status) = parse_user_list_query(&query)?;
    let orders = app.list_user_orders(caller, user_id, &page, status).await?;
    Ok(page_of(&orders, &page))
}
