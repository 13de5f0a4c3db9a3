//! What the layers of one request share besides the request itself: its
//! id, readable wherever the request is being served (`current_request_id`),
//! and the cause of a failure, which the error that answers it hands to
//! the request logger (`LoggedCause`). The id itself is kept where the log
//! reads it (`telemetry::request_id`).

pub use crate::telemetry::request_id::{current_request_id, with_request_id};

/// The cause of a 5xx, for the request logger: logged once, never sent.
#[derive(Debug, Clone)]
pub struct LoggedCause(pub String);
