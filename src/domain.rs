//! Domain types: values that cannot hold invalid data.
//!
//! The HTTP layer parses requests into these once; the application layer and
//! storage below it never re-check.

pub mod api_key;
pub mod digits;
pub mod event;
pub mod idempotency_key;
pub mod order;
pub mod page;
pub mod user;
pub mod version;
pub mod webhook;

pub use api_key::{ActiveKey, ApiKey, KeyDigest, KeyName, NewSecret, Role};
pub use event::{Change, Event, EventId, EventType, FeedPosition};
pub use idempotency_key::{IdempotencyKey, SavedResponse, Scope};
pub use order::{
    Currency, LineItem, NewOrder, Order, OrderStatus, Quantity, Sku, StoredItem, UnitPrice,
};
pub use page::{Cursor, Limit, PageRequest};
pub use user::{Email, NewUser, User, UserName, UserPatch};
pub use version::{Precondition, Version};
pub use webhook::{Delivery, DeliveryState, Endpoint, EndpointUrl, NewEndpoint, WebhookSecret};

/// `raw` trimmed, if it is at most `max` characters and has no control
/// characters: the rule every free-text field shares.
fn plain_text(raw: &str, max: usize) -> Result<&str, String> {
    let text = raw.trim();
    if char_len(text) > max {
        return Err(format!("must be at most {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(text)
}

/// Counts characters, as users do, not bytes.
fn char_len(s: &str) -> usize {
    s.chars().count()
}
