//! What storage reports when a call fails: the named constraint a write
//! broke, a database that did not settle the statement (and what is known
//! of it: did it run?), or anything else.
//!
//! A constraint means something only to the use case that broke it (the
//! foreign key from orders to users says "no such user" to an order create
//! and "the user has orders" to a user delete), so storage names the
//! constraint and the application layer decides what it means.

/// The constraints a request can legitimately break, by the names the
/// migrations give them. Any other constraint a write breaks is a bug or
/// outside interference: it surfaces as [`StoreError::Other`], a 500 with its
/// cause logged, never as a guessed meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// `users_email_lower_key`: one user per address, in any letter case.
    UserEmailUnique,
    /// `orders_user_fk`: every order belongs to an existing user.
    OrderUser,
    /// `orderly_idempotency_keys_pk`: one stored response per route and key.
    IdempotencyKeyUnique,
}

impl Constraint {
    pub const ALL: [Self; 3] = [
        Self::UserEmailUnique,
        Self::OrderUser,
        Self::IdempotencyKeyUnique,
    ];

    /// The name the migrations give the constraint, on both backends.
    pub fn name(self) -> &'static str {
        match self {
            Self::UserEmailUnique => "users_email_lower_key",
            Self::OrderUser => "orders_user_fk",
            Self::IdempotencyKeyUnique => "orderly_idempotency_keys_pk",
        }
    }

    /// The name PostgreSQL itself gives the same constraint when a schema
    /// declares it without one (`email text UNIQUE`, `user_id integer
    /// REFERENCES users`), as a database adopted from another service has
    /// it: PostgreSQL derives it from the table and column, so it means
    /// exactly this. `orderly migrate --adopt` refuses other names.
    pub fn default_name(self) -> Option<&'static str> {
        match self {
            Self::UserEmailUnique => Some("users_email_key"),
            Self::OrderUser => Some("orders_user_id_fkey"),
            Self::IdempotencyKeyUnique => None,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name || c.default_name() == Some(name))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the write breaks constraint {}", .0.name())]
    Violates(Constraint),
    /// The database did not settle the statement: what is known of it
    /// (`Unsettled`) decides whether it may be tried again (`retry`); the
    /// client gets 503.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What is known of a statement (or a commit) that did not succeed for
/// want of a database: one of the outcomes that `postgres::outcome`
/// decides, with what the server or the connection said (`source`).
#[derive(Debug, thiserror::Error)]
#[error("{outcome}")]
pub struct Unavailable {
    pub outcome: Unsettled,
    #[source]
    cause: Option<Cause>,
}

/// What the server or the connection said, kept whole for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// What is known of a statement that was not answered with success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsettled {
    /// Certain to have run nothing: safe to try again, writes included.
    NotRun(NotRun),
    /// Sent, and its answer lost (a connection that broke or went silent,
    /// a server that crashed): it may have committed. Never tried again.
    MayHaveRun,
    /// PostgreSQL kept the commit, but its wait for the synchronous
    /// standby was cut short (a cancel): a failover now would lose it.
    /// Never acknowledged, never tried again.
    Unconfirmed,
    /// PostgreSQL kept the commit, and its wait for the synchronous standby
    /// ended because the backend was terminated (a shutdown, an
    /// administrator): a clean shutdown sends its standbys all it has
    /// written, so the commit may stand on the next primary too. Never
    /// acknowledged as it is; only a run under its idempotency key may
    /// settle it, by finding it or making it.
    CutShortByShutdown,
}

/// Why a statement certainly did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRun {
    /// No server takes it now: none reachable or writable, or the one it
    /// reached was stopping or is a standby. A failover or switchover may
    /// be under way: worth waiting for (`--db-failover-wait-ms`).
    NoServer,
    /// It named a prepared statement the server no longer had (a pooler
    /// swapped the server connection under it); the connection sends its
    /// statements unnamed from now on: worth sending again at once.
    StatementGone,
    /// Refused for now, by a server that is up: cancelled, out of
    /// connections or memory, no free connection in time. 503, not
    /// tried again.
    Refused,
}

impl std::fmt::Display for Unsettled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotRun(NotRun::NoServer) => "no server took the statement; it did not run",
            Self::NotRun(NotRun::StatementGone) => {
                "the server had lost its prepared statement; it did not run"
            }
            Self::NotRun(NotRun::Refused) => "the server refused the statement for now; it did not run",
            Self::MayHaveRun => "the statement's answer was lost; it may have run",
            Self::Unconfirmed => {
                "the server kept the commit, but its synchronous standby did not confirm it"
            }
            Self::CutShortByShutdown => {
                "the server kept the commit, but stopped before its synchronous standby confirmed it"
            }
        })
    }
}

impl Unavailable {
    pub fn new(outcome: Unsettled, cause: impl Into<Cause>) -> Self {
        Self {
            outcome,
            cause: Some(cause.into()),
        }
    }

    /// An outcome with nothing more to say than its own words.
    #[cfg(test)]
    pub fn bare(outcome: Unsettled) -> Self {
        Self {
            outcome,
            cause: None,
        }
    }
}

impl StoreError {
    /// A failure that has no meaning for the client: logged, answered 500.
    pub fn other(
        context: &'static str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Other(anyhow::Error::new(cause).context(context))
    }

    /// Unavailable with `outcome`, for `cause`.
    pub fn unavailable(outcome: Unsettled, cause: impl Into<Cause>) -> Self {
        Self::Unavailable(Unavailable::new(outcome, cause))
    }

    /// What is known of the statement, when the database did not settle it.
    pub fn unsettled(&self) -> Option<Unsettled> {
        match self {
            Self::Unavailable(u) => Some(u.outcome),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_mean_nothing() {
        for c in Constraint::ALL {
            assert_eq!(Constraint::from_name(c.name()), Some(c));
        }
        assert_eq!(
            Constraint::from_name("users_email_key"),
            Some(Constraint::UserEmailUnique)
        );
        assert_eq!(
            Constraint::from_name("orders_user_id_fkey"),
            Some(Constraint::OrderUser)
        );
        assert_eq!(Constraint::from_name("users_pk"), None);
        assert_eq!(Constraint::from_name("orders_total_nonnegative"), None);
    }
}
