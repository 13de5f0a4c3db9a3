//! PostgreSQL errors of statements that failed on their own terms (the
//! outcome `Failed`: `outcome.rs` has already set aside everything about
//! availability) as storage errors: a broken constraint by the name the
//! migrations give it, anything else as `Other` (500, cause logged).

use tokio_postgres::error::SqlState;

use crate::storage::{Constraint, StoreError};

/// Integrity constraint violations (class 23), which name their constraint.
const VIOLATIONS: [SqlState; 7] = [
    SqlState::INTEGRITY_CONSTRAINT_VIOLATION,
    SqlState::RESTRICT_VIOLATION,
    SqlState::NOT_NULL_VIOLATION,
    SqlState::FOREIGN_KEY_VIOLATION,
    SqlState::UNIQUE_VIOLATION,
    SqlState::CHECK_VIOLATION,
    SqlState::EXCLUSION_VIOLATION,
];

pub(super) fn failed(e: tokio_postgres::Error) -> StoreError {
    let constraint = e
        .as_db_error()
        .filter(|db| VIOLATIONS.contains(db.code()))
        .and_then(|db| db.constraint())
        .and_then(Constraint::from_name);
    match constraint {
        Some(constraint) => StoreError::Violates(constraint),
        None => StoreError::other("PostgreSQL query failed", e),
    }
}

/// Whether `e` is the server's "value out of range" for a column: what an
/// id beyond 2^31 - 1 meets in an adopted schema's `integer` id columns.
pub(super) fn is_out_of_range(e: &StoreError) -> bool {
    let StoreError::Other(e) = e else {
        return false;
    };
    e.chain().any(|cause| {
        cause
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(|e| e.code())
            .is_some_and(|code| *code == SqlState::NUMERIC_VALUE_OUT_OF_RANGE)
    })
}
