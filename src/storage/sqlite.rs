//! The SQLite backend (the embedded default), on rusqlite.
//!
//! SQLite lets one writer in at a time, and readers beside it in WAL mode.
//! So writes go to one thread that owns the only writing connection and
//! commits them in batches, each write in a savepoint of its own, flushed
//! once per batch (`writer.rs`); reads run on the caller's thread on
//! read-only connections (`readers.rs`). A busy timeout makes the writer
//! wait its turn behind writers of other processes (another instance,
//! `orderly keys`, a test's own pool). Foreign keys are on for every
//! connection. Timestamps are integer microseconds since the Unix epoch.
//! Each resource's trait is implemented in its own file.

use std::path::Path;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    ConnectionStats, Health, NotRun, StoreError, StoreResult, Unsettled, READY_PROBE_LIMIT,
};
use crate::config::DatabaseSettings;

mod api_keys;
mod backup;
mod connection;
mod errors;
mod events;
mod idempotency_keys;
mod migrations;
mod orders;
mod readers;
mod session;
mod transaction;
mod unit_of_work;
mod users;
mod webhooks;
mod writer;

pub use backup::{backup, BackupReport};
pub use migrations::{migrate_file, MIGRATIONS};
pub use writer::BATCH_SIZE_METRIC;

use readers::Readers;
use writer::Writer;

/// Reader connections kept open. A connection is held only while a
/// statement runs on a thread, so a few cover every core; each holds its
/// own page cache (1 MiB).
const MAX_READERS: u32 = 4;

pub struct SqliteStore {
    readers: Readers,
    writer: Writer,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`, applies pending
    /// migrations, and starts the writer thread.
    pub async fn open(path: &Path, database: &DatabaseSettings) -> anyhow::Result<Self> {
        let cannot_open = || format!("could not open the SQLite database {}", path.display());
        let mut conn =
            connection::writer(path, database.sqlite_synchronous).with_context(cannot_open)?;
        migrations::migrate(&mut conn, MIGRATIONS).await?;
        let readers = Readers::open(path, database.pool_size.min(MAX_READERS) as usize)
            .with_context(cannot_open)?;
        let writer = Writer::start(conn, database.pool_timeout)
            .context("could not start the SQLite writer thread")?;
        Ok(Self { readers, writer })
    }
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

#[async_trait]
impl Health for SqliteStore {
    /// A reader answers, and the writer takes its turn within the probe's
    /// limit (an empty write: no flush).
    async fn ping(&self) -> StoreResult<()> {
        self.readers.read(|conn| {
            conn.prepare_cached("SELECT 1")?.query_row([], |_| Ok(()))?;
            Ok(())
        })?;
        tokio::time::timeout(READY_PROBE_LIMIT, self.writer.write(|_| Ok(())))
            .await
            .map_err(|_| {
                StoreError::unavailable(
                    Unsettled::NotRun(NotRun::Refused),
                    "the SQLite writer did not take a turn in time",
                )
            })?
    }

    fn connections(&self) -> Vec<ConnectionStats> {
        vec![self.readers.stats(), self.writer.stats()]
    }
}
