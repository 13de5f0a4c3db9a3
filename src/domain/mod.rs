//! Domain types: values that cannot hold invalid data.
//!
//! The HTTP layer parses requests into these once; storage and handlers
//! below it never re-check.

pub mod idempotency;
pub mod order;
pub mod page;
pub mod user;

pub use idempotency::{IdempotencyKey, StoredResponse};
pub use order::{
    Currency, LineItem, NewOrder, Order, OrderStatus, Quantity, Sku, StoredItem, UnitPrice,
};
pub use page::{Cursor, Limit, PageRequest};
pub use user::{Email, NewUser, User, UserName, UserPatch, Version};

/// Counts characters, as users do, not bytes.
fn char_len(s: &str) -> usize {
    s.chars().count()
}
