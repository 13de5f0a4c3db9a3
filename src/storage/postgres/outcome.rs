//! What a statement's answer means, decided here and nowhere else: from
//! what the server and the connection said about it, whether it ran, did
//! not run (safe to try again), may have run, or committed without its
//! synchronous standby's confirmation. Every statement orderly sends takes
//! this decision, wherever it runs (the shared pipelined connections, a
//! pooled transaction, the claim of an idempotency key): `connection.rs`
//! gathers what was said ([`Said`]) and asks [`decide`]. Whether to try
//! again is the retry policy's (`storage::retry`), from the outcome alone.
//!
//! **A commit its synchronous standby did not confirm.** When a commit's
//! wait for the standby is cut short (a cancel, the backend's
//! termination, the server shutting down), PostgreSQL keeps the commit
//! and says so only in a WARNING sent before the statement's answer. Its
//! words follow the server's `lc_messages`; its SQLSTATE is the generic
//! 01000 for a cancel. What does not depend on the language is the
//! routine that raised it, which PostgreSQL names in every message
//! (`SyncRepWaitForLSN`, field `R`), and the severity's untranslated form
//! (field `V`): those decide ([`sync_rep_cut`]). A server that names no
//! routine is judged by the English words when its `lc_messages` is
//! English, and otherwise strictly: every WARNING while a statement runs
//! counts as a cut-short wait (503, never a false 201).

use tokio_postgres::error::{DbError, Severity, SqlState};

use crate::storage::{NotRun, Unsettled};

/// The routine PostgreSQL names in the warning of a cut-short wait for
/// the synchronous standby (`src/backend/replication/syncrep.c`).
const SYNC_REP_ROUTINE: &str = "SyncRepWaitForLSN";

/// How a commit's wait for the synchronous standby was cut short, as the
/// WARNING before its answer says; the commit is kept on the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRepCut {
    /// A cancel (`pg_cancel_backend`, a pooler's cancel request).
    Cancelled,
    /// The backend's termination (SQLSTATE 57P01): a shutdown of the
    /// server, or `pg_terminate_backend`.
    Terminated,
}

/// What one statement got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Success.
    Success,
    /// An error answered to it, by its SQLSTATE and untranslated severity.
    Error(Code, Option<Severity>),
    /// The connection closed or broke before its answer came.
    Lost,
    /// No answer within orderly's time limit.
    Silent,
}

/// A SQLSTATE, as far as outcomes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 57P01: the backend was terminated (a shutdown, an administrator).
    AdminShutdown,
    /// 57P02: the server is crashing.
    CrashShutdown,
    /// 57P03: the server is starting or stopping.
    CannotConnectNow,
    /// 25006: a read-only transaction (the server is a standby now).
    ReadOnly,
    /// 26000: a prepared statement the server does not have.
    StatementGone,
    /// 57014: cancelled (`statement_timeout`, a cancel request).
    Cancelled,
    /// Out of connections, memory or disk (class 53), or a connection
    /// exception the server reports itself (class 08), the statement
    /// refused.
    Resources,
    /// 08007: the server cannot say whether the transaction committed.
    ResolutionUnknown,
    /// Anything else: the statement failed on its own terms (a
    /// constraint, a type): the caller reads the error.
    Other,
}

impl Code {
    pub fn of(state: &SqlState) -> Self {
        const RESOURCES: [SqlState; 11] = [
            SqlState::INSUFFICIENT_RESOURCES,
            SqlState::DISK_FULL,
            SqlState::OUT_OF_MEMORY,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::CONFIGURATION_LIMIT_EXCEEDED,
            SqlState::CONNECTION_EXCEPTION,
            SqlState::CONNECTION_DOES_NOT_EXIST,
            SqlState::CONNECTION_FAILURE,
            SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
            SqlState::SQLSERVER_REJECTED_ESTABLISHMENT_OF_SQLCONNECTION,
            SqlState::PROTOCOL_VIOLATION,
        ];
        match state {
            s if *s == SqlState::ADMIN_SHUTDOWN => Self::AdminShutdown,
            s if *s == SqlState::CRASH_SHUTDOWN => Self::CrashShutdown,
            s if *s == SqlState::CANNOT_CONNECT_NOW => Self::CannotConnectNow,
            s if *s == SqlState::READ_ONLY_SQL_TRANSACTION => Self::ReadOnly,
            s if *s == SqlState::INVALID_SQL_STATEMENT_NAME => Self::StatementGone,
            s if *s == SqlState::QUERY_CANCELED => Self::Cancelled,
            s if *s == SqlState::TRANSACTION_RESOLUTION_UNKNOWN => Self::ResolutionUnknown,
            s if RESOURCES.contains(s) => Self::Resources,
            _ => Self::Other,
        }
    }

    /// The server says this backend is going away, and ran nothing more
    /// of what it was sent: 57P01 (a shutdown, a termination) and 57P03.
    /// A crash (57P02) is not among them: it may strike after a commit.
    pub fn is_orderly_stop(self) -> bool {
        matches!(self, Self::AdminShutdown | Self::CannotConnectNow)
    }
}

/// Everything known of one statement's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Said {
    pub answer: Answer,
    /// A commit's wait for the synchronous standby cut short on this
    /// connection while the statement ran. On a connection shared by
    /// pipelined statements, any of them may be the commit: each counts
    /// it (conservative: a neighbour may get 503, nobody a false 201).
    pub cut: Option<SyncRepCut>,
    /// The server had said, by the time the statement's outcome was
    /// decided, that this connection's backend was stopping (a FATAL
    /// 57P01 or 57P03 to it unasked, or answered to a statement sent
    /// before this one): it reads nothing more.
    pub server_stopping: bool,
}

/// A statement's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran and succeeded.
    Ran,
    /// It failed on its own terms (a broken constraint, a wrong value)
    /// and rolled back: the error means something to the caller.
    Failed,
    /// The database did not settle it: what is known of it.
    Unsettled(Unsettled),
}

/// The outcome of a statement, from what was said about it.
pub fn decide(said: &Said) -> Outcome {
    use Outcome::Unsettled as U;
    // A cut-short wait means a commit was kept, whatever came after it.
    match said.cut {
        Some(SyncRepCut::Terminated) => return U(Unsettled::CutShortByShutdown),
        Some(SyncRepCut::Cancelled) => return U(Unsettled::Unconfirmed),
        None => {}
    }
    match said.answer {
        Answer::Success => Outcome::Ran,
        // A PANIC brings the server down, maybe after the commit was
        // written: nothing is known.
        Answer::Error(_, Some(Severity::Panic)) => U(Unsettled::MayHaveRun),
        Answer::Error(code, _) => match code {
            // The backend ended the statement's transaction and exits:
            // without a kept commit (no cut-short wait above), nothing
            // of it stands.
            Code::AdminShutdown | Code::CannotConnectNow | Code::ReadOnly => {
                U(Unsettled::NotRun(NotRun::NoServer))
            }
            Code::CrashShutdown | Code::ResolutionUnknown => U(Unsettled::MayHaveRun),
            Code::StatementGone => U(Unsettled::NotRun(NotRun::StatementGone)),
            Code::Cancelled | Code::Resources => U(Unsettled::NotRun(NotRun::Refused)),
            Code::Other => Outcome::Failed,
        },
        // The backend said it was stopping and read nothing more: what
        // was queued behind never reached it.
        Answer::Lost if said.server_stopping => U(Unsettled::NotRun(NotRun::NoServer)),
        Answer::Lost | Answer::Silent => U(Unsettled::MayHaveRun),
    }
}

/// How the server's messages may be read, from its `lc_messages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    /// Any other, or not known: a message's words decide nothing.
    Other,
}

impl Language {
    /// From `lc_messages` as the server reports it. Empty means the
    /// server's environment decides: not known.
    pub fn of_lc_messages(value: &str) -> Self {
        let v = value.trim();
        let english = matches!(v, "C" | "POSIX")
            || v.starts_with("C.")
            || v.starts_with("en_")
            || v.starts_with("en.")
            || v == "en";
        match english {
            true => Self::English,
            false => Self::Other,
        }
    }
}

/// What a notice says, as far as outcomes go (tokio-postgres' `DbError`
/// has no public constructor; the tests build these).
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    /// The untranslated severity (field `V`, sent since PostgreSQL 9.6).
    pub severity: Option<Severity>,
    /// The severity in the server's language (field `S`).
    pub localized_severity: &'a str,
    pub code: &'a SqlState,
    /// The server function that raised it (field `R`), in any language.
    pub routine: Option<&'a str>,
    pub message: &'a str,
}

impl<'a> Notice<'a> {
    pub fn of(notice: &'a DbError) -> Self {
        Self {
            severity: notice.parsed_severity(),
            localized_severity: notice.severity(),
            code: notice.code(),
            routine: notice.routine(),
            message: notice.message(),
        }
    }

    /// A WARNING, as far as can be told (a server too old to send the
    /// untranslated severity is read in English, else taken at its word).
    fn is_warning(&self, language: Language) -> bool {
        match self.severity {
            Some(severity) => severity == Severity::Warning,
            None => language == Language::Other || self.localized_severity == "WARNING",
        }
    }
}

/// Whether `notice` says a commit's wait for the synchronous standby was
/// cut short, and how. `language` matters only for a server that names
/// no routine.
pub fn sync_rep_cut(notice: &Notice<'_>, language: Language) -> Option<SyncRepCut> {
    let how = match *notice.code == SqlState::ADMIN_SHUTDOWN {
        true => SyncRepCut::Terminated,
        false => SyncRepCut::Cancelled,
    };
    if let Some(routine) = notice.routine {
        return (routine == SYNC_REP_ROUTINE).then_some(how);
    }
    if !notice.is_warning(language) {
        return None;
    }
    match language {
        Language::English => is_sync_rep_text(notice.message).then_some(how),
        Language::Other => Some(how),
    }
}

/// PostgreSQL's English words for a cut-short wait (a cancel; a
/// termination), for servers that name no routine.
fn is_sync_rep_text(message: &str) -> bool {
    message.starts_with("canceling wait for synchronous replication")
        || message.starts_with("canceling the wait for synchronous replication")
}

#[cfg(test)]
mod tests;
