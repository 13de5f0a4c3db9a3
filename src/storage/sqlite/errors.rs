//! SQLite errors as storage errors. SQLite names a broken constraint in its
//! message: a unique index or check by its name, a unique constraint on
//! plain columns by those columns, and a foreign key not at all. The first
//! two map here; foreign-key failures are attributed by the statement that
//! caused them, inside its own transaction (see `users.rs`, `orders.rs`).

use crate::storage::{Constraint, NotRun, StoreError, Unsettled};

/// Unique constraints on plain columns, which SQLite's messages name by
/// their columns; the names on the right are the migrations'.
const COLUMN_CONSTRAINTS: &[(&str, &str)] = &[
    ("users.id", "users_pk"),
    ("orders.id", "orders_pk"),
    ("order_items.order_id, order_items.line", "order_items_pk"),
    (
        "orderly_idempotency_keys.api_key_id, orderly_idempotency_keys.scope, orderly_idempotency_keys.key",
        "orderly_idempotency_keys_pk",
    ),
    ("orderly_api_keys.digest", "orderly_api_keys_digest_unique"),
];

/// The SQLite result codes that mean "another connection holds the lock":
/// SQLITE_BUSY and SQLITE_LOCKED with their extended codes.
const BUSY_CODES: [&str; 5] = ["5", "6", "261", "262", "517"];

pub(super) fn db_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            if let Some(constraint) = constraint_named(db.message()).and_then(Constraint::from_name)
            {
                return StoreError::Violates(constraint);
            }
            if db
                .code()
                .is_some_and(|code| BUSY_CODES.contains(&code.as_ref()))
            {
                // SQLite answers BUSY before it changes anything.
                return StoreError::unavailable(Unsettled::NotRun(NotRun::Refused), e);
            }
            StoreError::other("SQLite query failed", e)
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::unavailable(Unsettled::NotRun(NotRun::Refused), e)
        }
        sqlx::Error::Io(_) => StoreError::unavailable(Unsettled::MayHaveRun, e),
        _ => StoreError::other("SQLite query failed", e),
    }
}

/// Whether `e` is SQLite's nameless "FOREIGN KEY constraint failed".
pub(super) fn is_foreign_key_failure(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

/// The name of the constraint a SQLite error message reports, if any.
fn constraint_named(message: &str) -> Option<&str> {
    if let Some(check) = message.strip_prefix("CHECK constraint failed: ") {
        return Some(check);
    }
    let unique = message.strip_prefix("UNIQUE constraint failed: ")?;
    if let Some(index) = unique.strip_prefix("index '") {
        return index.strip_suffix('\'');
    }
    COLUMN_CONSTRAINTS
        .iter()
        .find(|(columns, _)| *columns == unique)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_indexes_checks_and_known_column_sets() {
        for (message, name) in [
            (
                "UNIQUE constraint failed: index 'users_email_lower_key'",
                Some("users_email_lower_key"),
            ),
            (
                "UNIQUE constraint failed: orderly_idempotency_keys.api_key_id, orderly_idempotency_keys.scope, orderly_idempotency_keys.key",
                Some("orderly_idempotency_keys_pk"),
            ),
            ("UNIQUE constraint failed: users.id", Some("users_pk")),
            (
                "CHECK constraint failed: orders_total_nonnegative",
                Some("orders_total_nonnegative"),
            ),
            ("UNIQUE constraint failed: other.column", None),
            ("FOREIGN KEY constraint failed", None),
            ("no such table: users", None),
        ] {
            assert_eq!(constraint_named(message), name, "{message}");
        }
    }
}
