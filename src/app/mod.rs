//! The application layer: one function per use case, between the HTTP layer
//! (which parses requests into domain types and renders answers) and
//! storage (which knows rows and transactions). It knows nothing of HTTP.
//!
//! Rules that span several storage calls live here, once: an order's move
//! along the status machine (`orders.rs`), the idempotency flow
//! (`idempotency.rs`), and what a broken constraint means to each use case.

use std::sync::Arc;

use crate::storage::{ConnectionStats, Health, OrderStore, Stores, UserStore};

pub mod error;
pub mod idempotency;
pub mod orders;
pub mod users;

pub use error::{AppError, AppResult};
pub use idempotency::{Created, Replayable};

/// The use cases, over one backend's stores.
pub struct App {
    users: Arc<dyn UserStore>,
    orders: Arc<dyn OrderStore>,
    idempotency: idempotency::Idempotency,
    health: Arc<dyn Health>,
}

impl App {
    pub fn new(stores: Stores) -> Self {
        Self {
            users: stores.users,
            orders: stores.orders,
            idempotency: idempotency::Idempotency::new(stores.idempotency_keys),
            health: stores.health,
        }
    }

    /// Ready to serve: the database answers.
    pub async fn check_ready(&self) -> AppResult<()> {
        Ok(self.health.ping().await?)
    }

    /// How the database connections are used right now.
    pub fn connections(&self) -> Vec<ConnectionStats> {
        self.health.connections()
    }

    /// Deletes idempotency keys past their time to live; returns how many.
    pub async fn purge_expired_keys(&self) -> AppResult<u64> {
        self.idempotency.purge_expired().await
    }
}
