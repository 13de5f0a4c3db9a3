//! The task that drives one connection's socket, and what it notes of the
//! server's unasked messages for the statements' outcomes (`outcome`).
//!
//! - A WARNING that a commit's wait for the synchronous standby was cut
//!   short arrives before that statement's answer, as a notice: the driver
//!   counts it on its connection before the answer reaches the statement,
//!   so the statement's runner (`PgConn::run`) sees it in its outcome.
//!   Each connection counts its own: a commit is judged only by what
//!   happened on its connection.
//! - A FATAL 57P01 or 57P03 to an idle connection (as a switchover's clean
//!   shutdown sends) means its backend reads nothing more: a statement
//!   that then finds the connection closed never reached it.
//! - Whether the server names the routine of its messages, which makes
//!   the first decision independent of `lc_messages`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use tokio_postgres::error::{Severity, SqlState};
use tokio_postgres::{AsyncMessage, Connection, Socket};

use super::connect::Stream;
use super::outcome::{sync_rep_cut, Code, Language, Notice, SyncRepCut};

/// What the driver has seen on its connection.
#[derive(Default)]
pub struct Watch {
    /// Commits kept without the synchronous standby's confirmation, their
    /// wait cut short by a cancel.
    cancelled: AtomicU64,
    /// ... by the backend's termination (a shutdown, an administrator).
    terminated: AtomicU64,
    /// The server said this connection's backend was stopping.
    server_stopping: AtomicBool,
    /// The server's `lc_messages`, read at connect (until then, and if it
    /// cannot be read, not known: not English).
    lc_messages: OnceLock<Box<str>>,
    /// Whether the server's notices name their routine: 0 not seen yet,
    /// 1 they do, 2 they do not.
    names_routines: AtomicU8,
}

/// The counts of cut-short waits at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cuts {
    cancelled: u64,
    terminated: u64,
}

impl Watch {
    pub fn cuts(&self) -> Cuts {
        Cuts {
            cancelled: self.cancelled.load(Ordering::Acquire),
            terminated: self.terminated.load(Ordering::Acquire),
        }
    }

    /// A wait cut short on this connection since `before`; a termination
    /// over a cancel (the server was stopping).
    pub fn cut_since(&self, before: Cuts) -> Option<SyncRepCut> {
        let now = self.cuts();
        if now.terminated != before.terminated {
            Some(SyncRepCut::Terminated)
        } else if now.cancelled != before.cancelled {
            Some(SyncRepCut::Cancelled)
        } else {
            None
        }
    }

    pub fn server_stopping(&self) -> bool {
        self.server_stopping.load(Ordering::Acquire)
    }

    /// The server said this backend was stopping: unasked (seen here), or
    /// in answer to a statement (seen by its runner).
    pub fn note_stopping(&self) {
        self.server_stopping.store(true, Ordering::Release);
    }

    /// Notes the server's `lc_messages`, as read at connect.
    pub fn set_lc_messages(&self, value: &str) {
        let _ = self.lc_messages.set(value.into());
    }

    /// The server's `lc_messages`; empty if not known.
    pub fn lc_messages(&self) -> &str {
        self.lc_messages.get().map_or("", |v| v)
    }

    fn language(&self) -> Language {
        Language::of_lc_messages(self.lc_messages())
    }

    /// Whether the server's notices name their routine; `None` before the
    /// first notice.
    pub fn names_routines(&self) -> Option<bool> {
        match self.names_routines.load(Ordering::Acquire) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }

    fn count(&self, cut: SyncRepCut) {
        match cut {
            SyncRepCut::Cancelled => self.cancelled.fetch_add(1, Ordering::Release),
            SyncRepCut::Terminated => self.terminated.fetch_add(1, Ordering::Release),
        };
    }
}

/// Drives `connection` until it closes, noting into `watch`.
pub async fn drive(mut connection: Connection<Socket, Stream>, watch: Arc<Watch>) {
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notice(notice))) => {
                let notice = Notice::of(&notice);
                watch.names_routines.store(
                    if notice.routine.is_some() { 1 } else { 2 },
                    Ordering::Release,
                );
                match sync_rep_cut(&notice, watch.language()) {
                    Some(cut) => {
                        watch.count(cut);
                        log_cut(cut, &notice);
                    }
                    None => log_notice(&notice),
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                if e.code()
                    .is_some_and(|code| Code::of(code).is_orderly_stop())
                {
                    watch.note_stopping();
                }
                tracing::warn!(error = %e, "PostgreSQL connection closed");
                return;
            }
            None => return,
        }
    }
}

fn log_cut(cut: SyncRepCut, notice: &Notice<'_>) {
    match cut {
        SyncRepCut::Terminated => tracing::warn!(
            notice = notice.message,
            "PostgreSQL terminated a backend while its commit waited for the synchronous standby; the write is not acknowledged as it is (a keyed create is run again under its key)"
        ),
        SyncRepCut::Cancelled => tracing::error!(
            notice = notice.message,
            "PostgreSQL kept a commit without its synchronous standby; the write is not acknowledged"
        ),
    }
}

/// A WARNING is news, but "no transaction in progress" is orderly's own
/// probe of the server at start-up (`PgStore::open`); NOTICEs ("relation
/// ... already exists, skipping" from migrations) are detail.
fn log_notice(notice: &Notice<'_>) {
    let warning = notice.severity == Some(Severity::Warning);
    if warning && *notice.code != SqlState::NO_ACTIVE_SQL_TRANSACTION {
        tracing::warn!("{}: {}", notice.localized_severity, notice.message);
    } else {
        tracing::debug!("{}: {}", notice.localized_severity, notice.message);
    }
}
