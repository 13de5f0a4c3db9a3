//! What storage reports when a call fails: the named constraint a write
//! broke, an unreachable database, or anything else.
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
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Unavailable, and certain that nothing of the statement ran: no
    /// server would take it as asked (none writable while a failover or
    /// switchover runs, one shutting down), or the server refused it
    /// before running it. Safe to try again, writes included.
    #[error("the database is unavailable: {0}")]
    NotRun(String),
    /// A commit the server kept but had not seen replicated when it shut
    /// down (a clean shutdown, which sends its standbys all it has
    /// written before it stops): the write may stand; never acknowledged,
    /// never run again as it is. Only a run under its idempotency key may
    /// resolve it, by finding it or making it.
    #[error("the database is unavailable: {0}")]
    CutShortByShutdown(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// A failure that has no meaning for the client: logged, answered 500.
    pub fn other(
        context: &'static str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Other(anyhow::Error::new(cause).context(context))
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
