//! The application layer: one function per use case, between the HTTP layer
//! (which parses requests into domain types and renders answers) and
//! storage (which knows rows and transactions). It knows nothing of HTTP.
//!
//! Rules that span several storage calls live here, once: an order's move
//! along the status machine (`orders.rs`), the idempotency flow
//! (`idempotency.rs`), what a broken constraint means to each use case, and
//! where each read may be served from (`floors.rs`): every use case is told
//! who calls, so that the caller reads its own writes.

use std::future::Future;
use std::sync::Arc;

use crate::domain::IdempotencyKey;
use crate::storage::{
    ConnectionStats, EventStore, Health, OrderStore, ReadStats, SessionStoreFailures, Stores,
    UserStore, WebhookStore, Written,
};

pub mod access;
pub mod error;
pub mod events;
mod floors;
pub mod idempotency;
pub mod orders;
pub mod users;

pub use access::{Access, Caller, Denied};
pub use error::{AppError, AppResult};
pub use idempotency::{Created, Replayable};

/// Runs one request's use cases with one budget for waiting out a
/// failover, however many statements and layers try again
/// (`storage::retry`): the HTTP layer puts it around every request.
pub async fn one_request<F: Future>(request: F) -> F::Output {
    crate::storage::retry::one_budget(request).await
}

/// The use cases, over one backend's stores.
pub struct App {
    users: Arc<dyn UserStore>,
    orders: Arc<dyn OrderStore>,
    idempotency: idempotency::Idempotency,
    access: Access,
    floors: floors::Floors,
    health: Arc<dyn Health>,
    events: Arc<dyn EventStore>,
    webhooks: Arc<dyn WebhookStore>,
    private_receivers: events::PrivateReceivers,
}

impl App {
    /// The use cases over `stores`, with the active API keys loaded.
    /// `anonymous_allowed`: whether the API may run open while no key is
    /// active.
    pub async fn load(stores: Stores, anonymous_allowed: bool) -> AppResult<Self> {
        Ok(Self {
            users: stores.users,
            orders: stores.orders,
            idempotency: idempotency::Idempotency::new(stores.idempotency_keys, stores.retry),
            access: Access::load(stores.api_keys, anonymous_allowed).await?,
            floors: floors::Floors::new(stores.session_store),
            health: stores.health,
            events: stores.events,
            webhooks: stores.webhooks,
            private_receivers: events::PrivateReceivers(false),
        })
    }

    /// The webhook bookkeeping, for the dispatcher (`crate::webhooks`).
    pub fn webhook_store(&self) -> Arc<dyn WebhookStore> {
        self.webhooks.clone()
    }

    /// Access control: who a request is from, and the API keys.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Ready to serve: the database answers.
    pub async fn check_ready(&self) -> AppResult<()> {
        Ok(self.health.ping().await?)
    }

    /// How the database connections are used right now.
    pub fn connections(&self) -> Vec<ConnectionStats> {
        self.health.connections()
    }

    /// Where reads went, and how each read replica stands.
    pub fn reads(&self) -> ReadStats {
        self.health.reads()
    }

    /// The session store's failures so far, where one is used.
    pub fn session_store_failures(&self) -> Option<SessionStoreFailures> {
        self.floors.shared_failures()
    }

    /// Deletes idempotency keys past their time to live; returns how many.
    pub async fn purge_expired_keys(&self) -> AppResult<u64> {
        self.idempotency.purge_expired().await
    }

    /// A create by `caller`: without an idempotency key, the write on its
    /// own (`alone`); with one, at most once per key, inside the claim's
    /// transaction (`within`). Either way the caller's floor rises to it.
    async fn create<T: Replayable>(
        &self,
        caller: Caller,
        key: Option<&IdempotencyKey>,
        alone: impl AsyncFnOnce() -> AppResult<Written<T>>,
        within: impl idempotency::Work<T>,
    ) -> AppResult<Created<T>> {
        let created = match key {
            None => alone().await?.map(Created::New),
            Some(key) => self.idempotency.once(key, within).await?,
        };
        Ok(self.floors.after(caller, created).await)
    }
}
