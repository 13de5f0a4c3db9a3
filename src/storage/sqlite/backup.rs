//! `orderly backup PATH`: a consistent copy of the live database, taken
//! while orderly keeps serving. SQLite's online backup copies every page
//! inside one read transaction, which in WAL mode never blocks the writer:
//! the copy holds exactly what was committed when it began, so every write
//! acknowledged before then. It is written beside its destination under
//! another name, checked, flushed, and only then linked into place (never
//! over an existing file), so PATH is either a whole backup or absent.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;

use super::connection;

/// What a backup copied.
#[derive(Debug)]
pub struct BackupReport {
    pub bytes: u64,
    pub users: i64,
    pub orders: i64,
    pub took: Duration,
}

/// Copies the database at `source` to `to`, which must not exist.
pub fn backup(source: &Path, to: &Path) -> anyhow::Result<BackupReport> {
    let started = Instant::now();
    if to.exists() {
        bail!("{} exists already; name a new file", to.display());
    }
    if !source.exists() {
        bail!("there is no SQLite database at {}", source.display());
    }
    let partial = partial_name(to)?;
    let copied = copy(source, &partial).and_then(|report| {
        flush(&partial)?;
        // A hard link fails if `to` appeared meanwhile, where a rename
        // would replace it.
        std::fs::hard_link(&partial, to)
            .with_context(|| format!("could not put the backup at {}", to.display()))?;
        Ok(report)
    });
    for leftover in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{leftover}", partial.display()));
    }
    let (users, orders) = copied?;
    flush_directory_of(to)?;
    Ok(BackupReport {
        bytes: std::fs::metadata(to)?.len(),
        users,
        orders,
        took: started.elapsed(),
    })
}

/// Where the copy is written until it is whole: beside `to`, so that the
/// rename stays on one file system.
fn partial_name(to: &Path) -> anyhow::Result<PathBuf> {
    let name = to
        .file_name()
        .with_context(|| format!("{} names no file", to.display()))?;
    let mut partial = name.to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    Ok(to.with_file_name(partial))
}

/// Copies every page, checks the copy, and leaves it as one self-contained
/// file (rollback journal, no `-wal` beside it); the users and orders it
/// holds.
fn copy(source: &Path, to: &Path) -> anyhow::Result<(i64, i64)> {
    let from = connection::reader(source)
        .with_context(|| format!("could not open {}", source.display()))?;
    let mut copy =
        Connection::open(to).with_context(|| format!("could not create {}", to.display()))?;
    {
        let backup = Backup::new(&from, &mut copy)?;
        // All pages in one step: one read transaction, one snapshot. Busy
        // or locked: another connection is recovering the log; tried again
        // for up to 5 s.
        let mut tries = 0;
        while backup.step(-1)? != StepResult::Done {
            tries += 1;
            anyhow::ensure!(tries < 500, "the database stayed locked for 5 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let mode: String = copy.query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))?;
    anyhow::ensure!(
        mode.eq_ignore_ascii_case("delete"),
        "the copy kept journal_mode {mode}"
    );
    let check: String = copy.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    anyhow::ensure!(
        check == "ok",
        "the copy fails SQLite's integrity check: {check}"
    );
    let count = |table: &str| -> rusqlite::Result<i64> {
        copy.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
    };
    Ok((count("users")?, count("orders")?))
}

fn flush(path: &Path) -> anyhow::Result<()> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("could not flush {} to disk", path.display()))
}

/// The rename is durable only once the directory is flushed too.
fn flush_directory_of(path: &Path) -> anyhow::Result<()> {
    let directory = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    flush(directory)
}
