//! Opening the database file: the settings every orderly connection to it
//! uses, whether it writes or only reads.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::config::SqliteSynchronous;

/// How long the writer waits for another process's write lock (a second
/// instance, `orderly keys`, a test's own pool) before 503.
const WRITER_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a reader waits for a lock, which in WAL mode it meets only
/// while another connection recovers the log. Short: readers run on the
/// async runtime's own threads.
const READER_BUSY_TIMEOUT: Duration = Duration::from_millis(250);

/// Statements each connection keeps prepared: every statement orderly
/// runs fits, so none is parsed twice.
const PREPARED_STATEMENTS: usize = 64;

/// The one connection that writes: creates the file if missing, WAL mode,
/// foreign keys on, and `synchronous` as configured.
pub(super) fn writer(path: &Path, synchronous: SqliteSynchronous) -> anyhow::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(WRITER_BUSY_TIMEOUT)?;
    // Set once in the file; it stays for every later connection.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    anyhow::ensure!(
        mode.eq_ignore_ascii_case("wal"),
        "SQLite kept journal_mode {mode} for {}; orderly needs WAL (is the file on a network file system?)",
        path.display()
    );
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA foreign_keys = ON;",
        synchronous.pragma()
    ))?;
    common(&conn)?;
    Ok(conn)
}

/// A connection that only reads; the file must exist (the writer made it).
pub(super) fn reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(READER_BUSY_TIMEOUT)?;
    common(&conn)?;
    Ok(conn)
}

fn common(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
    // 1 MiB of page cache per connection instead of 2: the operating system
    // caches the file as well, and the connections' caches were a good
    // part of the service's memory.
    conn.execute_batch("PRAGMA cache_size = -1024;")
}
