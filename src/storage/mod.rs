//! Storage behind one narrow interface, so that PostgreSQL and SQLite share
//! every handler.
//!
//! Each backend turns its own error codes and constraint names into
//! [`StoreError`]; nothing above this module sees SQL or driver errors.

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{DatabaseTarget, Settings};
use crate::domain::{NewUser, PageRequest, User, UserPatch, Version};

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

/// Users: the storage side of `/api/v1/users`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn create_user(&self, new: &NewUser) -> StoreResult<User>;
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
