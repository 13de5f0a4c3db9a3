//! Read-your-writes when reads may go to replicas, without help from the
//! client: each caller's floor.
//!
//! A caller's floor is where the primary's write-ahead log stood after that
//! caller's last write (`Written::at`). Its reads ask storage for a replica
//! that has replayed at least that far (`ReadFrom::Replica`), so a caller
//! never reads a state from before its own write. The caller is the API key
//! (each key its own floor; every client shares one while the API runs
//! open). This is the technique of GitLab's database load balancing.
//!
//! The floors live in this instance's memory, and, with a session store
//! (`--session-store`), in Redis too, where every instance raises and reads
//! them: then the guarantee holds through any instance, not only through
//! the one that took the write. A read whose floor the store does not
//! give in time goes to the primary, which is never behind (docs/high-availability.md).
//!
//! The use cases decide which reads may use the floor: a read that only
//! answers the caller may; a read that decides a write (an order's status
//! move, telling 404 from 412 after an update) goes to the primary.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::Caller;
use crate::storage::{LogPosition, ReadFrom, SessionStore, SessionStoreFailures, Written};

#[derive(Default)]
pub struct Floors {
    local: RwLock<HashMap<i64, Arc<AtomicU64>>>,
    shared: Option<Arc<dyn SessionStore>>,
}

impl Floors {
    /// Floors kept in this instance, and in `shared` if given.
    pub fn new(shared: Option<Arc<dyn SessionStore>>) -> Self {
        Self {
            local: RwLock::default(),
            shared,
        }
    }

    /// Where a read that only answers `caller` may be served from: any
    /// replica that has replayed `caller`'s own last write, through this
    /// instance or (with a session store) any other; the primary if the
    /// store does not answer.
    pub async fn reads_for(&self, caller: Caller) -> ReadFrom {
        let owner = caller.idempotency_owner();
        let local = self
            .local
            .read()
            .expect("not poisoned")
            .get(&owner)
            .map_or(0, |floor| floor.load(Ordering::Relaxed));
        let shared = match &self.shared {
            None => LogPosition(0),
            Some(store) => match store.floor(owner).await {
                Ok(position) => position,
                Err(_) => return ReadFrom::Primary,
            },
        };
        ReadFrom::Replica {
            at_least: shared.max(LogPosition(local)),
        }
    }

    /// Raises `caller`'s floor to where its write left the primary's log
    /// (never lowers it), here and in the session store, and hands back
    /// what the write returned. A store that fails leaves the write
    /// standing: only this instance then knows its position.
    pub async fn after<T>(&self, caller: Caller, written: Written<T>) -> T {
        if let Some(at) = written.at {
            self.floor_of(caller).fetch_max(at.0, Ordering::Relaxed);
            if let Some(store) = &self.shared {
                let _ = store.raise(caller.idempotency_owner(), at).await;
            }
        }
        written.value
    }

    /// The session store's failures so far, if there is one.
    pub fn shared_failures(&self) -> Option<SessionStoreFailures> {
        self.shared.as_ref().map(|store| store.failures())
    }

    /// `caller`'s floor, made on its first write. Only keys that
    /// authenticated write, so there are at most as many as keys.
    fn floor_of(&self, caller: Caller) -> Arc<AtomicU64> {
        let id = caller.idempotency_owner();
        if let Some(found) = self.local.read().expect("not poisoned").get(&id) {
            return found.clone();
        }
        self.local
            .write()
            .expect("not poisoned")
            .entry(id)
            .or_default()
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn at(position: u64) -> Written<()> {
        Written {
            value: (),
            at: Some(LogPosition(position)),
        }
    }

    async fn floor(floors: &Floors, caller: Caller) -> LogPosition {
        match floors.reads_for(caller).await {
            ReadFrom::Replica { at_least } => at_least,
            ReadFrom::Primary => panic!("a caller's reads may use replicas"),
        }
    }

    #[tokio::test]
    async fn a_write_raises_its_own_callers_floor_only_and_never_lowers_it() {
        let floors = Floors::default();
        let (mine, theirs) = (
            Caller::Key {
                id: 1,
                role: Role::Admin,
            },
            Caller::Key {
                id: 2,
                role: Role::Admin,
            },
        );
        assert_eq!(floor(&floors, mine).await, LogPosition(0), "no write yet");
        floors.after(mine, at(500)).await;
        floors.after(mine, at(200)).await;
        assert_eq!(floor(&floors, mine).await, LogPosition(500));
        assert_eq!(floor(&floors, theirs).await, LogPosition(0));
        floors.after(theirs, Written::unplaced(())).await;
        assert_eq!(
            floor(&floors, theirs).await,
            LogPosition(0),
            "no position, no move"
        );
    }
}
