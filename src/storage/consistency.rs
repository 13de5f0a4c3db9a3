//! How current a read must be, and where a write left the primary.
//!
//! Every read names where it may be served from ([`ReadFrom`]): a use case
//! that reads in order to decide a write (an order's status move, telling
//! 404 from 412) asks for the primary; one that only answers a client may
//! take a replica, provided the replica has replayed the client's own last
//! write. Every write says where the primary's write-ahead log stood once
//! it had committed ([`Written`]), so that the application layer can keep
//! each client's floor (`app::floors`). A backend without replicas serves
//! every read from its one database and reports no positions.

/// A position in the primary's write-ahead log (a PostgreSQL LSN). A
/// replica that has replayed this far has every write committed before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogPosition(pub u64);

/// Where one read may be served from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// The primary, always: the current state, for reads that decide a write.
    Primary,
    /// A replica that is within the lag bound and has replayed at least
    /// `at_least`, if one is usable; else the primary.
    Replica { at_least: LogPosition },
}

/// What a write did, and where the primary's log stood right after it
/// committed: `Some` only where replicas serve reads (nobody else needs to
/// know), and `None` too if the position could not be read (the write
/// stands; only the caller's next reads are less sure to see it).
#[derive(Debug)]
pub struct Written<T> {
    pub value: T,
    pub at: Option<LogPosition>,
}

impl<T> Written<T> {
    /// A write whose position nobody needs.
    pub fn unplaced(value: T) -> Self {
        Self { value, at: None }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Written<U> {
        Written {
            value: f(self.value),
            at: self.at,
        }
    }
}
