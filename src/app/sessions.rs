//! Each caller's read-your-writes session (`storage::session`): one per API
//! key, and one that every caller shares while the API runs open. Kept in
//! this instance's memory, so the guarantee holds for requests through the
//! same instance (README, "Beyond one database server").

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

use super::{App, Caller};
use crate::storage::session::{self, Session};

#[derive(Default)]
pub struct Sessions(RwLock<HashMap<i64, Arc<Session>>>);

impl Sessions {
    /// The session of `caller`, made on its first request. Only keys that
    /// authenticated get one, so there are at most as many as keys.
    fn of(&self, caller: Caller) -> Arc<Session> {
        let id = caller.idempotency_owner();
        if let Some(found) = self.0.read().expect("not poisoned").get(&id) {
            return found.clone();
        }
        self.0
            .write()
            .expect("not poisoned")
            .entry(id)
            .or_default()
            .clone()
    }
}

impl App {
    /// Runs one request of `caller`'s: its writes raise the caller's
    /// floor, and, if it only reads, its reads may go to replicas that
    /// have replayed past that floor.
    pub async fn serve_as<F: Future>(
        &self,
        caller: Caller,
        reads_only: bool,
        request: F,
    ) -> F::Output {
        session::within(self.sessions.of(caller), reads_only, request).await
    }
}
