//! PostgreSQL errors as storage errors: a broken constraint by the name the
//! migrations give it, a lost or refused connection as `Unavailable`.

use crate::storage::{Constraint, StoreError};

pub(super) fn db_error(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // Class 23: integrity constraint violations, which name their constraint.
        if code.starts_with("23") {
            if let Some(constraint) = db.constraint().and_then(Constraint::from_name) {
                return StoreError::Violates(constraint);
            }
        }
        // Refused before running: the backend terminated or the server
        // shutting down or starting (an error answered to the statement
        // itself means it did not commit), or a server that no longer
        // takes writes (a demoted primary).
        // The server's own words: tokio-postgres' says only "db error".
        let said = || format!("{} ({code})", db.message());
        if super::driver::is_stopping(code) || code == "25006" {
            return StoreError::NotRun(said());
        }
        // Class 08: connection exceptions; 57: operator intervention (a
        // statement past `statement_timeout` or cancelled, a terminated
        // backend, a server shutting down or restarting); 53: out of
        // connections or memory; 26000: a prepared statement a pooler's
        // server connection does not have (nothing ran; worth a retry).
        if code.starts_with("08")
            || code.starts_with("57")
            || code.starts_with("53")
            || code == "26000"
        {
            return StoreError::Unavailable(said());
        }
        return StoreError::other("PostgreSQL query failed", e);
    }
    // Not from the server: the connection closed, or its socket failed.
    let lost_connection =
        e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if lost_connection {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::other("PostgreSQL query failed", e)
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
            .is_some_and(|code| {
                *code == tokio_postgres::error::SqlState::NUMERIC_VALUE_OUT_OF_RANGE
            })
    })
}
