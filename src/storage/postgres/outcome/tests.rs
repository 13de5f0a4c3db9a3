//! The outcome table, one row per case, without a database.

use super::*;
use crate::storage::NotRun;

const NOT_RUN: Outcome = Outcome::Unsettled(Unsettled::NotRun(NotRun::NoServer));
const MAY_HAVE_RUN: Outcome = Outcome::Unsettled(Unsettled::MayHaveRun);
const UNCONFIRMED: Outcome = Outcome::Unsettled(Unsettled::Unconfirmed);
const CUT_BY_SHUTDOWN: Outcome = Outcome::Unsettled(Unsettled::CutShortByShutdown);

fn said(answer: Answer, cut: Option<SyncRepCut>, server_stopping: bool) -> Said {
    Said {
        answer,
        cut,
        server_stopping,
    }
}

fn error(state: SqlState, severity: Severity) -> Answer {
    Answer::Error(Code::of(&state), Some(severity))
}

#[test]
fn each_thing_a_statement_can_be_told_has_one_outcome() {
    use Severity::{Error, Fatal, Panic};
    use SyncRepCut::{Cancelled, Terminated};
    let rows: &[(&str, Said, Outcome)] = &[
        ("answered", said(Answer::Success, None, false), Outcome::Ran),
        (
            "answered after a cancel cut its commit's wait for the standby",
            said(Answer::Success, Some(Cancelled), false),
            UNCONFIRMED,
        ),
        (
            "a constraint broken",
            said(error(SqlState::UNIQUE_VIOLATION, Error), None, false),
            Outcome::Failed,
        ),
        (
            "a syntax error",
            said(error(SqlState::SYNTAX_ERROR, Error), None, false),
            Outcome::Failed,
        ),
        (
            "FATAL 57P01 answered (its backend terminated, a shutdown)",
            said(error(SqlState::ADMIN_SHUTDOWN, Fatal), None, false),
            NOT_RUN,
        ),
        (
            "FATAL 57P01 answered after its commit's wait was cut by the termination",
            said(
                error(SqlState::ADMIN_SHUTDOWN, Fatal),
                Some(Terminated),
                true,
            ),
            CUT_BY_SHUTDOWN,
        ),
        (
            "57P03: the server is starting or stopping",
            said(error(SqlState::CANNOT_CONNECT_NOW, Fatal), None, false),
            NOT_RUN,
        ),
        (
            "57P02: the server is crashing (maybe after the commit)",
            said(error(SqlState::CRASH_SHUTDOWN, Fatal), None, false),
            MAY_HAVE_RUN,
        ),
        (
            "25006: the server is a standby now",
            said(
                error(SqlState::READ_ONLY_SQL_TRANSACTION, Error),
                None,
                false,
            ),
            NOT_RUN,
        ),
        (
            "26000: a pooler lost the prepared statement",
            said(
                error(SqlState::INVALID_SQL_STATEMENT_NAME, Error),
                None,
                false,
            ),
            Outcome::Unsettled(Unsettled::NotRun(NotRun::StatementGone)),
        ),
        (
            "57014: cancelled, or past statement_timeout",
            said(error(SqlState::QUERY_CANCELED, Error), None, false),
            Outcome::Unsettled(Unsettled::NotRun(NotRun::Refused)),
        ),
        (
            "53300: too many connections",
            said(error(SqlState::TOO_MANY_CONNECTIONS, Fatal), None, false),
            Outcome::Unsettled(Unsettled::NotRun(NotRun::Refused)),
        ),
        (
            "08007: the server cannot say whether it committed",
            said(
                error(SqlState::TRANSACTION_RESOLUTION_UNKNOWN, Fatal),
                None,
                false,
            ),
            MAY_HAVE_RUN,
        ),
        (
            "08P01: a protocol violation refused",
            said(error(SqlState::PROTOCOL_VIOLATION, Fatal), None, false),
            Outcome::Unsettled(Unsettled::NotRun(NotRun::Refused)),
        ),
        (
            "a PANIC, whatever its code",
            said(error(SqlState::DATA_CORRUPTED, Panic), None, false),
            MAY_HAVE_RUN,
        ),
        (
            "connection lost, the server said nothing",
            said(Answer::Lost, None, false),
            MAY_HAVE_RUN,
        ),
        (
            "connection lost after the server said it was stopping",
            said(Answer::Lost, None, true),
            NOT_RUN,
        ),
        (
            "connection lost after its commit's wait was cut by a shutdown",
            said(Answer::Lost, Some(Terminated), true),
            CUT_BY_SHUTDOWN,
        ),
        (
            "connection lost after its commit's wait was cancelled",
            said(Answer::Lost, Some(Cancelled), false),
            UNCONFIRMED,
        ),
        (
            "no answer within the time limit",
            said(Answer::Silent, None, false),
            MAY_HAVE_RUN,
        ),
        (
            "no answer within the time limit, though the server was stopping",
            said(Answer::Silent, None, true),
            MAY_HAVE_RUN,
        ),
    ];
    for (case, said, expected) in rows {
        assert_eq!(decide(said), *expected, "{case}");
    }
}

fn notice<'a>(
    severity: Option<Severity>,
    localized: &'a str,
    code: &'a SqlState,
    routine: Option<&'a str>,
    message: &'a str,
) -> Notice<'a> {
    Notice {
        severity,
        localized_severity: localized,
        code,
        routine,
        message,
    }
}

#[test]
fn a_cut_short_wait_is_recognised_in_any_language_and_nothing_else_is() {
    use Language::{English, Other};
    use Severity::{Notice as N, Warning as W};
    use SyncRepCut::{Cancelled, Terminated};
    const DE_CANCEL: &str = "storniere Warten auf synchrone Replikation wegen Benutzeraufforderung";
    const FR_TERMINATE: &str =
        "annulation de l'attente pour la réplication synchrone et arrêt des connexions suite à la demande de l'administrateur";
    const EN_CANCEL: &str = "canceling wait for synchronous replication due to user request";
    const EN_TERMINATE: &str = "canceling the wait for synchronous replication and terminating connection due to administrator command";
    let sync_rep = Some("SyncRepWaitForLSN");
    let (w, admin) = (&SqlState::WARNING, &SqlState::ADMIN_SHUTDOWN);
    let rows: &[(&str, Notice, Language, Option<SyncRepCut>)] = &[
        (
            "English cancel",
            notice(Some(W), "WARNING", w, sync_rep, EN_CANCEL),
            English,
            Some(Cancelled),
        ),
        (
            "English termination",
            notice(Some(W), "WARNING", admin, sync_rep, EN_TERMINATE),
            English,
            Some(Terminated),
        ),
        (
            "German cancel",
            notice(Some(W), "WARNUNG", w, sync_rep, DE_CANCEL),
            Other,
            Some(Cancelled),
        ),
        (
            "French termination",
            notice(Some(W), "ATTENTION", admin, sync_rep, FR_TERMINATE),
            Other,
            Some(Terminated),
        ),
        (
            "an unrelated warning (no transaction in progress)",
            notice(
                Some(W),
                "WARNUNG",
                &SqlState::NO_ACTIVE_SQL_TRANSACTION,
                Some("UserAbortTransactionBlock"),
                "keine Transaktion offen",
            ),
            Other,
            None,
        ),
        (
            "an immediate shutdown's warning (it may strike after a commit; not a kept commit's)",
            notice(
                Some(W),
                "WARNING",
                admin,
                Some("quickdie"),
                "terminating connection due to immediate shutdown command",
            ),
            English,
            None,
        ),
        (
            "a NOTICE from a migration",
            notice(
                Some(N),
                "NOTICE",
                &SqlState::DUPLICATE_TABLE,
                Some("transformCreateStmt"),
                "relation already exists, skipping",
            ),
            English,
            None,
        ),
        (
            "no routine named, English words",
            notice(Some(W), "WARNING", w, None, EN_CANCEL),
            English,
            Some(Cancelled),
        ),
        (
            "no routine named, another English warning",
            notice(
                Some(W),
                "WARNING",
                w,
                None,
                "there is no transaction in progress",
            ),
            English,
            None,
        ),
        (
            "no routine named, German: every warning counts (strict)",
            notice(Some(W), "WARNUNG", w, None, "keine Transaktion offen"),
            Other,
            Some(Cancelled),
        ),
        (
            "no routine named, German termination",
            notice(Some(W), "WARNUNG", admin, None, DE_CANCEL),
            Other,
            Some(Terminated),
        ),
        (
            "no routine named, a German NOTICE",
            notice(Some(N), "HINWEIS", w, None, "Relation existiert bereits"),
            Other,
            None,
        ),
        (
            "no routine, no untranslated severity, English words",
            notice(None, "WARNING", w, None, EN_CANCEL),
            English,
            Some(Cancelled),
        ),
        (
            "no routine, no untranslated severity, German: strict",
            notice(None, "HINWEIS", w, None, "irgendetwas"),
            Other,
            Some(Cancelled),
        ),
    ];
    for (case, notice, language, expected) in rows {
        assert_eq!(sync_rep_cut(notice, *language), *expected, "{case}");
    }
}

#[test]
fn lc_messages_values_are_read_as_english_or_not() {
    for english in ["C", "POSIX", "C.UTF-8", "en_US.UTF-8", "en_GB", "en"] {
        assert_eq!(
            Language::of_lc_messages(english),
            Language::English,
            "{english}"
        );
    }
    for other in ["de_DE.UTF-8", "fr_FR.UTF-8", "", "ja_JP.eucJP", "Cymraeg"] {
        assert_eq!(Language::of_lc_messages(other), Language::Other, "{other}");
    }
}
