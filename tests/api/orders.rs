//! `/api/v1/orders` and `/api/v1/users/{id}/orders`: every row of API.md's
//! Orders section.

use serde_json::{json, Value};

use crate::helpers::TestApp;

mod atomicity;
mod create;
mod list;
mod moves;

pub const ORDERS: &str = "/api/v1/orders";

/// `PUT {"status": status}` on the order.
pub async fn move_to(app: &TestApp, order_id: &Value, status: &str) -> reqwest::Response {
    app.send_json(
        reqwest::Method::PUT,
        &format!("{ORDERS}/{order_id}"),
        &json!({"status": status}),
        None,
    )
    .await
}
