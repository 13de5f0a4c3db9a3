//! Read-your-writes when reads may go to replicas.
//!
//! A [`Session`] holds how far the primary's write-ahead log had got after
//! the last write of one caller (a PostgreSQL LSN). A read may go to a
//! replica only if that replica has replayed at least that far, so a caller
//! never reads a state from before its own write. This is the technique of
//! GitLab's database load balancing, with the positions kept per caller in
//! each instance's memory.
//!
//! The session is set for the length of one request, as a task-local, by
//! the layer that knows the caller (`App::serve_as`): every storage call of
//! that request sees it without each signature carrying it. Outside a
//! request (migrations, purges, key reloads) there is no session, and every
//! read goes to the primary. Inside a request that writes, reads go to the
//! primary too: a use case that reads in order to decide a write (an
//! order's status move, telling 404 from 412) must read the current state.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One caller's read-your-writes state.
#[derive(Debug, Default)]
pub struct Session {
    /// The primary's WAL position after this caller's last write (0: none yet).
    written_up_to: AtomicU64,
}

impl Session {
    /// The position a replica must have replayed to serve this caller.
    pub fn written_up_to(&self) -> u64 {
        self.written_up_to.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct Scope {
    session: Arc<Session>,
    replicas_allowed: bool,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `work` (one request) for the caller whose session this is.
/// `replicas_allowed`: the request only reads (GET, HEAD).
pub async fn within<F: Future>(
    session: Arc<Session>,
    replicas_allowed: bool,
    work: F,
) -> F::Output {
    SCOPE
        .scope(
            Scope {
                session,
                replicas_allowed,
            },
            work,
        )
        .await
}

/// For a read: `Some(position)` a replica must have replayed to serve it,
/// or `None` when it must go to the primary.
pub(crate) fn replica_floor() -> Option<u64> {
    SCOPE
        .try_with(|s| s.replicas_allowed.then(|| s.session.written_up_to()))
        .ok()
        .flatten()
}

/// Whether the current request has a session whose writes must be tracked.
pub(crate) fn tracking() -> bool {
    SCOPE.try_with(|_| ()).is_ok()
}

/// Notes that the current request's caller wrote, and the primary's WAL
/// position after that write committed.
pub(crate) fn wrote(position: u64) {
    let _ = SCOPE.try_with(|s| {
        s.session
            .written_up_to
            .fetch_max(position, Ordering::Relaxed)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_outside_a_session_or_in_a_writing_request_go_to_the_primary() {
        assert_eq!(replica_floor(), None);
        let session = Arc::new(Session::default());
        assert_eq!(
            within(session.clone(), false, async { replica_floor() }).await,
            None
        );
        assert_eq!(
            within(session.clone(), true, async { replica_floor() }).await,
            Some(0)
        );
    }

    #[tokio::test]
    async fn a_write_raises_the_floor_of_its_own_session_only_and_never_lowers_it() {
        let (mine, theirs) = (Arc::new(Session::default()), Arc::new(Session::default()));
        within(mine.clone(), false, async {
            wrote(500);
            wrote(200);
        })
        .await;
        assert_eq!(mine.written_up_to(), 500);
        assert_eq!(
            within(mine, true, async { replica_floor() }).await,
            Some(500)
        );
        assert_eq!(
            within(theirs, true, async { replica_floor() }).await,
            Some(0)
        );
        wrote(900); // no session: nobody's floor moves
    }
}
