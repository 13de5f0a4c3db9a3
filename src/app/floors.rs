//! Read-your-writes when reads may go to replicas, without help from the
//! client: each caller's floor.
//!
//! A caller's floor is where the primary's write-ahead log stood after that
//! caller's last write (`Written::at`). Its reads ask storage for a replica
//! that has replayed at least that far (`ReadFrom::Replica`), so a caller
//! never reads a state from before its own write. The caller is the API key
//! (each key its own floor; every client shares one while the API runs
//! open), and the floors live in this instance's memory: the guarantee
//! holds for requests through the same instance (README, "Beyond one
//! database server"). This is the technique of GitLab's database load
//! balancing.
//!
//! The use cases decide which reads may use the floor: a read that only
//! answers the caller may; a read that decides a write (an order's status
//! move, telling 404 from 412 after an update) goes to the primary.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::Caller;
use crate::storage::{LogPosition, ReadFrom, Written};

#[derive(Default)]
pub struct Floors(RwLock<HashMap<i64, Arc<AtomicU64>>>);

impl Floors {
    /// Where a read that only answers `caller` may be served from: any
    /// replica that has replayed `caller`'s own last write.
    pub fn reads_for(&self, caller: Caller) -> ReadFrom {
        let floor = self
            .0
            .read()
            .expect("not poisoned")
            .get(&caller.idempotency_owner())
            .map_or(0, |floor| floor.load(Ordering::Relaxed));
        ReadFrom::Replica {
            at_least: LogPosition(floor),
        }
    }

    /// Raises `caller`'s floor to where its write left the primary's log
    /// (never lowers it), and hands back what the write returned.
    pub fn after<T>(&self, caller: Caller, written: Written<T>) -> T {
        if let Some(LogPosition(at)) = written.at {
            self.floor_of(caller).fetch_max(at, Ordering::Relaxed);
        }
        written.value
    }

    /// `caller`'s floor, made on its first write. Only keys that
    /// authenticated write, so there are at most as many as keys.
    fn floor_of(&self, caller: Caller) -> Arc<AtomicU64> {
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

    fn floor(floors: &Floors, caller: Caller) -> LogPosition {
        match floors.reads_for(caller) {
            ReadFrom::Replica { at_least } => at_least,
            ReadFrom::Primary => panic!("a caller's reads may use replicas"),
        }
    }

    #[test]
    fn a_write_raises_its_own_callers_floor_only_and_never_lowers_it() {
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
        assert_eq!(floor(&floors, mine), LogPosition(0), "no write yet");
        floors.after(mine, at(500));
        floors.after(mine, at(200));
        assert_eq!(floor(&floors, mine), LogPosition(500));
        assert_eq!(floor(&floors, theirs), LogPosition(0));
        floors.after(theirs, Written::unplaced(()));
        assert_eq!(
            floor(&floors, theirs),
            LogPosition(0),
            "no position, no move"
        );
    }
}
