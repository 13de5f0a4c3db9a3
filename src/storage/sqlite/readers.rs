//! Reads, run where the request runs: a read-only connection is taken from
//! a small stack, used on the calling thread, and put back, with no hop to
//! another thread and back per statement (what sqlx's SQLite driver does).
//! A read is a few microseconds of CPU on pages the cache holds, shorter
//! than the hop; WAL mode never makes it wait for the writer.
//!
//! A connection is only ever held while one statement runs on one thread,
//! so there are never more in use than threads reading; the stack keeps a
//! few and opens another only when all of those are in use at once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rusqlite::Connection;

use super::connection;
use crate::storage::health::Counted;
use crate::storage::{ConnectionStats, StoreResult};

pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Most connections kept open while idle.
    keep: usize,
    in_use: AtomicUsize,
}

impl Readers {
    /// Opens `keep` connections to `path` now, so that the first requests
    /// do not pay for opening them.
    pub(super) fn open(path: &Path, keep: usize) -> rusqlite::Result<Self> {
        let idle = (0..keep)
            .map(|_| connection::reader(path))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Self {
            path: path.to_owned(),
            idle: Mutex::new(idle),
            keep,
            in_use: AtomicUsize::new(0),
        })
    }

    /// Runs `read` on a reader connection, on this thread.
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let conn = match self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            Some(conn) => conn,
            None => connection::reader(&self.path)?,
        };
        let result = {
            let _in_use = Counted::enter(&self.in_use);
            read(&conn)
        };
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.keep {
            idle.push(conn);
        }
        result
    }

    pub(super) fn stats(&self) -> ConnectionStats {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).len();
        ConnectionStats {
            pool: "sqlite_readers",
            max: self.keep,
            in_use: self.in_use.load(Ordering::Relaxed),
            idle,
            // Nobody waits: a reader that finds none idle opens one.
            waiting: 0,
        }
    }
}
