//! The task that drives one connection's socket, and what it watches for.
//!
//! When a commit waits for the synchronous standby and that wait is cut
//! short (an operator's `pg_cancel_backend`, a cancel request), PostgreSQL
//! keeps the commit on the primary alone and says so only in a WARNING,
//! sent before the statement's own answer. The driver counts such warnings
//! for its connection, before that answer reaches the statement, so the
//! statement's runner (`PgConn::run`) can refuse to acknowledge the write:
//! a failover to the standby would lose it. Each connection counts its
//! own, so a commit is judged only by what happened on its connection.
//!
//! It also notes when the server says, unasked, that it is stopping (a
//! FATAL 57P01-57P03 to an idle connection, as a switchover's clean
//! shutdown sends): a statement that then finds the connection closed
//! never reached a running backend (`PgConn::failed`). And when the
//! warning of a commit's cut-short wait carries 57P01, the server is
//! shutting down: a clean shutdown sends its connected standbys all it has
//! written, so the commit may stand on the next primary too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio_postgres::{AsyncMessage, Connection, Socket};

use super::connect::Stream;

/// What the driver has seen on its connection.
#[derive(Default)]
pub struct Watch {
    /// Commits PostgreSQL kept without the synchronous standby's
    /// confirmation.
    unconfirmed_commits: AtomicU64,
    /// The server said it was stopping.
    server_stopping: AtomicBool,
    /// A commit's wait for the synchronous standby was cut short because
    /// the server was shutting down (its warning carries 57P01).
    cut_by_shutdown: AtomicBool,
}

impl Watch {
    pub fn unconfirmed_commits(&self) -> u64 {
        self.unconfirmed_commits.load(Ordering::Acquire)
    }

    pub fn server_stopping(&self) -> bool {
        self.server_stopping.load(Ordering::Acquire)
    }

    /// The server said it was stopping: unasked (seen here), or in answer
    /// to a statement (seen by its runner).
    pub fn note_stopping(&self) {
        self.server_stopping.store(true, Ordering::Release);
    }

    pub fn cut_by_shutdown(&self) -> bool {
        self.cut_by_shutdown.load(Ordering::Acquire)
    }
}

/// The server's codes for "this backend is going away": terminated by an
/// administrator, the server crashing, or shutting down or starting.
pub fn is_stopping(code: &str) -> bool {
    matches!(code, "57P01" | "57P02" | "57P03")
}

/// Drives `connection` until it closes, counting into `watch`.
pub async fn drive(mut connection: Connection<Socket, Stream>, watch: Arc<Watch>) {
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notice(notice))) if is_unconfirmed_commit(&notice) => {
                watch.unconfirmed_commits.fetch_add(1, Ordering::Release);
                if is_stopping(notice.code().code()) {
                    watch.cut_by_shutdown.store(true, Ordering::Release);
                    tracing::warn!(
                        notice = notice.message(),
                        "PostgreSQL shut down while a commit waited for its synchronous standby; the write is not acknowledged as it is (a keyed create is run again under its key)"
                    );
                    continue;
                }
                tracing::error!(
                    notice = notice.message(),
                    "PostgreSQL kept a commit without its synchronous standby; the write is not acknowledged"
                );
            }
            Some(Ok(AsyncMessage::Notice(notice))) if notice.severity() == "WARNING" => {
                tracing::warn!("{}: {}", notice.severity(), notice.message());
            }
            // The server's NOTICEs ("relation ... already exists, skipping"
            // from migrations): detail, not news.
            Some(Ok(AsyncMessage::Notice(notice))) => {
                tracing::debug!("{}: {}", notice.severity(), notice.message());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                if e.code().is_some_and(|code| is_stopping(code.code())) {
                    watch.note_stopping();
                }
                tracing::warn!(error = %e, "PostgreSQL connection closed");
                return;
            }
            None => return,
        }
    }
}

/// PostgreSQL's warning for a wait for synchronous replication cut short
/// (by `statement_timeout` or a cancel, or by the backend's termination,
/// as when the server shuts down), the commit kept locally. Matched by its
/// text, as a cancel's has no SQLSTATE of its own; servers whose
/// `lc_messages` is not English word it otherwise.
fn is_unconfirmed_commit(notice: &tokio_postgres::error::DbError) -> bool {
    let message = notice.message();
    message.starts_with("canceling wait for synchronous replication")
        || message.starts_with("canceling the wait for synchronous replication")
}
