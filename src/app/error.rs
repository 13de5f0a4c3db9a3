//! What a use case can answer besides success, in the application's terms.
//! The HTTP layer maps each variant to a status in one place
//! (`http/error.rs`).

use crate::domain::OrderStatus;
use crate::storage::retry::Failure;
use crate::storage::{Constraint, StoreError, StoreResult, Unavailable, Unsettled};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("a user with this e-mail address already exists")]
    EmailTaken,
    #[error("the user has orders; cancel them instead of deleting the user")]
    UserHasOrders,
    #[error("no user has this id")]
    UnknownUser,
    #[error("the resource has changed since the given ETag; fetch it again")]
    PreconditionFailed,
    #[error("an order cannot move from {from} to {to}")]
    IllegalMove { from: OrderStatus, to: OrderStatus },
    #[error("the order moved to {now} while this request ran; fetch it and decide again")]
    MovedConcurrently { now: OrderStatus },
    #[error("this Idempotency-Key was used with a different request body")]
    KeyReused,
    #[error("a request with this Idempotency-Key is still running; retry shortly")]
    KeyInFlight,
    #[error("webhook receivers on this machine or a private network are refused (server-side request forgery); start orderly with --webhooks-allow-private to allow them")]
    PrivateReceiver,
    /// The database did not settle the work: what is known of it (did it
    /// run?) and what the server said, kept for the log; whether it is
    /// tried again is the retry policy's (`storage::retry`).
    #[error("the database is unavailable")]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Internal(anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl From<StoreError> for AppError {
    /// A constraint no use case gave a meaning to is a bug or outside
    /// interference: a 500 whose logged cause names the constraint.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Violates(constraint) => Self::Internal(anyhow::anyhow!(
                "unexpected violation of constraint {}",
                constraint.name()
            )),
            StoreError::Unavailable(unavailable) => Self::Unavailable(unavailable),
            StoreError::Other(cause) => Self::Internal(cause),
        }
    }
}

impl Failure for AppError {
    fn unsettled(&self) -> Option<Unsettled> {
        match self {
            Self::Unavailable(unavailable) => Some(unavailable.outcome),
            _ => None,
        }
    }
}

/// Gives a broken constraint its meaning for one use case (the shape of
/// realworld-axum-sqlx's `on_constraint`).
pub trait OnConstraint<T> {
    fn on_constraint(self, constraint: Constraint, meaning: AppError) -> AppResult<T>;
}

impl<T> OnConstraint<T> for StoreResult<T> {
    fn on_constraint(self, constraint: Constraint, meaning: AppError) -> AppResult<T> {
        match self {
            Err(StoreError::Violates(broken)) if broken == constraint => Err(meaning),
            other => Ok(other?),
        }
    }
}
