//! SQLite errors as storage errors. SQLite names a broken constraint in its
//! message: a unique index or check by its name, a unique constraint on
//! plain columns by those columns, and a foreign key not at all. The first
//! two map here; foreign-key failures are attributed by the statement that
//! caused them, inside its own transaction (see `users.rs`, `orders.rs`).

use rusqlite::ErrorCode;

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

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        let rusqlite::Error::SqliteFailure(failure, message) = &e else {
            return StoreError::other("SQLite query failed", e);
        };
        if let Some(constraint) = message
            .as_deref()
            .and_then(constraint_named)
            .and_then(Constraint::from_name)
        {
            return StoreError::Violates(constraint);
        }
        match failure.code {
            // Another process holds the lock: SQLite answers before it
            // changes anything.
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                StoreError::unavailable(Unsettled::NotRun(NotRun::Refused), e)
            }
            // The transaction is rolled back: nothing of it stays.
            ErrorCode::DiskFull | ErrorCode::OutOfMemory | ErrorCode::OperationAborted => {
                StoreError::unavailable(Unsettled::NotRun(NotRun::Refused), e)
            }
            // A write or a flush failed: whether the commit reached the
            // disk cannot be told.
            ErrorCode::SystemIoFailure => StoreError::unavailable(Unsettled::MayHaveRun, e),
            _ => StoreError::other("SQLite query failed", e),
        }
    }
}

/// Whether `e` is SQLite's nameless "FOREIGN KEY constraint failed".
pub(super) fn is_foreign_key_failure(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(failure, _)
        if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
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
