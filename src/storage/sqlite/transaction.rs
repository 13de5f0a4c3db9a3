//! A unit of work on SQLite: a session on the writer thread (see
//! `writer.rs`), in a savepoint of the batch it joins. No other write runs
//! while it is open, in this process or another; it commits with its batch
//! and is answered once that batch is on disk. Dropped unended (a
//! cancelled request), it is rolled back. Its writes: `unit_of_work.rs`.

use super::session::Session;

pub struct SqliteTx(pub(super) Session);
