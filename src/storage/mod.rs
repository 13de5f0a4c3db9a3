//! Storage behind one narrow interface, so that PostgreSQL and SQLite share
//! every handler.
//!
//! Each backend turns its own error codes and constraint names into
//! [`StoreError`]; nothing above this module sees SQL or driver errors.

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{DatabaseTarget, Settings};
use crate::domain::{
    IdempotencyKey, NewOrder, NewUser, Order, OrderStatus, PageRequest, StoredResponse, User,
    UserPatch, Version,
};

pub mod idempotency;
pub mod migrations;
pub mod postgres;
pub mod sqlite;

/// What went wrong, in terms the HTTP layer can answer with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("the e-mail address is already taken")]
    EmailTaken,
    #[error("the user still has orders")]
    UserHasOrders,
    #[error("the resource has changed since the given version")]
    VersionMismatch,
    #[error("the user does not exist")]
    UnknownUser,
    #[error("an order cannot move from {from} to {to}")]
    IllegalMove { from: String, to: &'static str },
    #[error("the order moved to {now} while this request ran")]
    MovedConcurrently { now: String },
    #[error("the idempotency key was used with another request body")]
    KeyReused,
    #[error("a request with this idempotency key is still running")]
    KeyInFlight,
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An `If-Match` precondition: the update applies only if the row's current
/// version is one of these (an empty list never matches).
#[derive(Debug, Clone, Default)]
pub enum Precondition {
    #[default]
    None,
    AnyOf(Vec<Version>),
}

impl Precondition {
    pub fn allows(&self, current: Version) -> bool {
        match self {
            Self::None => true,
            Self::AnyOf(versions) => versions.contains(&current),
        }
    }
}

/// What a create returns: the new resource, or the response stored under
/// the request's idempotency key.
#[derive(Debug)]
pub enum Created<T> {
    New(T),
    Replayed(StoredResponse),
}

/// An idempotent create: its key, and how to render the response that is
/// stored with the created row, in the same transaction.
#[derive(Clone, Copy)]
pub struct Idempotent<'a, T> {
    pub key: &'a IdempotencyKey,
    pub render: &'a (dyn Fn(&T) -> StoredResponse + Send + Sync),
}

/// How long a stored idempotent response is replayed.
pub const IDEMPOTENCY_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Narrows an order listing.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderFilter {
    pub user_id: Option<i64>,
    pub status: Option<OrderStatus>,
}

/// The storage side of the API. Backends implement the primitives; rules
/// that span several of them (the status machine) live here once.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a user; with a key, either creates it and stores the
    /// response in one transaction, or replays what is stored.
    async fn create_user(
        &self,
        new: &NewUser,
        idempotent: Option<Idempotent<'_, User>>,
    ) -> StoreResult<Created<User>>;
    async fn get_user(&self, id: i64) -> StoreResult<User>;
    /// Applies `patch` if `precondition` holds: `NotFound`, `VersionMismatch`
    /// or `EmailTaken` otherwise. Always moves `updated_at` forward.
    async fn update_user(
        &self,
        id: i64,
        patch: &UserPatch,
        precondition: &Precondition,
    ) -> StoreResult<User>;
    async fn delete_user(&self, id: i64) -> StoreResult<()>;
    /// Up to `page.fetch_len()` users with ids after the cursor, by id;
    /// `email` filters case-insensitively.
    async fn list_users(&self, page: &PageRequest, email: Option<&str>) -> StoreResult<Vec<User>>;
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;

    async fn user_exists(&self, id: i64) -> StoreResult<bool>;

    /// Writes the order and all its items (and, with a key, the stored
    /// response) in one transaction: all or nothing. `UnknownUser` when the
    /// foreign key refuses `user_id`.
    async fn create_order(
        &self,
        new: &NewOrder,
        idempotent: Option<Idempotent<'_, Order>>,
    ) -> StoreResult<Created<Order>>;

    async fn get_order(&self, id: i64) -> StoreResult<Order>;

    /// Sets the status only if the row is still at `seen` (its version when
    /// read); `None` when it has changed or gone.
    async fn set_order_status_if_unchanged(
        &self,
        id: i64,
        seen: Version,
        to: OrderStatus,
    ) -> StoreResult<Option<Order>>;

    /// Up to `page.fetch_len()` orders with their items, by id.
    async fn list_orders(
        &self,
        page: &PageRequest,
        filter: &OrderFilter,
    ) -> StoreResult<Vec<Order>>;

    /// Deletes stored responses older than [`IDEMPOTENCY_TTL`], in small
    /// batches so no request waits long behind it; returns how many.
    async fn purge_expired_keys(&self) -> StoreResult<u64>;

    /// Moves an order along the status machine. The move is decided against
    /// the state read and written only if that state is still current, so of
    /// two racing moves from one state exactly one wins.
    async fn move_order(
        &self,
        id: i64,
        to: OrderStatus,
        precondition: &Precondition,
    ) -> StoreResult<Order> {
        let current = self.get_order(id).await?;
        if !precondition.allows(current.version()) {
            return Err(StoreError::VersionMismatch);
        }
        let legal = OrderStatus::parse(&current.status).is_ok_and(|from| from.can_move_to(to));
        if !legal {
            return Err(StoreError::IllegalMove {
                from: current.status,
                to: to.as_str(),
            });
        }
        if let Some(moved) = self
            .set_order_status_if_unchanged(id, current.version(), to)
            .await?
        {
            return Ok(moved);
        }
        let now = self.get_order(id).await?;
        if !precondition.allows(now.version()) {
            return Err(StoreError::VersionMismatch);
        }
        Err(StoreError::MovedConcurrently { now: now.status })
    }
}

/// Why a conditional write matched no row, given a fresh read of it: the row
/// is gone (`NotFound`) or its version moved on (`VersionMismatch`).
pub(crate) fn stale_or_missing<T>(fresh_read: StoreResult<T>) -> StoreError {
    match fresh_read {
        Ok(_) => StoreError::VersionMismatch,
        Err(e) => e,
    }
}

/// Opens the configured database and applies pending migrations.
pub async fn open(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match settings.database()? {
        DatabaseTarget::Postgres(url) => Arc::new(postgres::PgStore::open(&url, settings).await?),
        DatabaseTarget::Sqlite(path) => Arc::new(sqlite::SqliteStore::open(&path, settings).await?),
    })
}
