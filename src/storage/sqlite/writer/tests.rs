//! The writer on a real SQLite file: what a batch keeps and answers when
//! one of its jobs fails, panics, or makes SQLite roll the whole batch
//! back, and sessions beside single writes. A gate job holds the writer
//! while the others queue, so that they share one batch.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::SqliteSynchronous;
use crate::storage::sqlite::connection;

struct Fixture {
    writer: Arc<Writer>,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn fixture(wait_limit: Duration) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("writer.db");
    let conn = connection::writer(&path, SqliteSynchronous::Full).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (x INTEGER PRIMARY KEY);
         CREATE TRIGGER doom BEFORE INSERT ON t WHEN NEW.x = 666
         BEGIN SELECT RAISE(ROLLBACK, 'doom'); END;",
    )
    .unwrap();
    let writer = Arc::new(Writer::start(conn, wait_limit).unwrap());
    Fixture {
        writer,
        _dir: dir,
        path,
    }
}

impl Fixture {
    /// The rows committed, as another connection reads them.
    fn rows(&self) -> Vec<i64> {
        let conn = connection::reader(&self.path).unwrap();
        let mut select = conn.prepare("SELECT x FROM t ORDER BY x").unwrap();
        let rows = select.query_map([], |row| row.get(0)).unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    /// A write that holds the writer until the returned sender is used,
    /// then inserts `x`.
    fn gate(
        &self,
        x: i64,
    ) -> (
        std_mpsc::Sender<()>,
        tokio::task::JoinHandle<StoreResult<()>>,
    ) {
        let (open, opened) = std_mpsc::channel::<()>();
        let writer = self.writer.clone();
        let held = tokio::spawn(async move {
            writer
                .write(move |conn| {
                    opened.recv().unwrap();
                    insert(conn, x)
                })
                .await
        });
        (open, held)
    }

    fn insert(&self, xs: &'static [i64]) -> tokio::task::JoinHandle<StoreResult<()>> {
        let writer = self.writer.clone();
        tokio::spawn(async move {
            writer
                .write(move |conn| xs.iter().try_for_each(|x| insert(conn, *x)))
                .await
        })
    }

    /// Waits until `n` jobs wait behind the gate, as the writer's own
    /// count of queued jobs says (the gauge `/metrics` shows), within 5 s.
    async fn until_queued(&self, n: usize) {
        for _ in 0..5000 {
            if self.writer.stats().waiting >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{n} jobs never queued behind the gate");
    }
}

fn insert(conn: &Connection, x: i64) -> StoreResult<()> {
    conn.execute("INSERT INTO t (x) VALUES (?)", [x])?;
    Ok(())
}

fn refused(result: &StoreResult<()>) -> bool {
    matches!(result, Err(e) if e.unsettled() == Some(Unsettled::NotRun(NotRun::Refused)))
}

#[tokio::test]
async fn a_job_failing_after_its_first_statement_keeps_nothing_and_fails_alone() {
    let f = fixture(Duration::from_secs(5));
    let (open, gate) = f.gate(0);
    // Inserts 1, then fails on the taken 0: its 1 must go too.
    let failing = f.insert(&[1, 0]);
    let kept = f.insert(&[3]);
    f.until_queued(2).await;
    open.send(()).unwrap();
    assert!(gate.await.unwrap().is_ok());
    assert!(matches!(
        failing.await.unwrap(),
        Err(StoreError::Violates(_)) | Err(StoreError::Other(_))
    ));
    assert!(kept.await.unwrap().is_ok());
    assert_eq!(f.rows(), [0, 3]);
}

#[tokio::test]
async fn a_batch_sqlite_rolls_back_acknowledges_none_of_its_jobs() {
    let f = fixture(Duration::from_secs(5));
    let (open, gate) = f.gate(0);
    let doomed = f.insert(&[666]);
    f.until_queued(1).await;
    open.send(()).unwrap();
    // The gate's insert was in the batch SQLite rolled back: not acknowledged.
    assert!(refused(&gate.await.unwrap()));
    assert!(doomed.await.unwrap().is_err());
    assert_eq!(f.rows(), Vec::<i64>::new());
    // The writer goes on with a new batch.
    assert!(f.insert(&[7]).await.unwrap().is_ok());
    assert_eq!(f.rows(), [7]);
}

#[tokio::test]
async fn a_job_that_panics_loses_its_own_write_only() {
    let f = fixture(Duration::from_secs(5));
    let (open, gate) = f.gate(0);
    let writer = f.writer.clone();
    let panicking = tokio::spawn(async move {
        writer
            .write(|conn| -> StoreResult<()> {
                insert(conn, 5)?;
                panic!("a bug in a write");
            })
            .await
    });
    let kept = f.insert(&[6]);
    f.until_queued(2).await;
    open.send(()).unwrap();
    assert!(gate.await.unwrap().is_ok());
    assert!(panicking.await.unwrap().is_err());
    assert!(kept.await.unwrap().is_ok());
    assert_eq!(f.rows(), [0, 6]);
}

#[tokio::test]
async fn sessions_commit_with_their_batch_and_a_dropped_one_keeps_nothing() {
    let f = fixture(Duration::from_secs(5));
    let (open, gate) = f.gate(0);
    let writer = f.writer.clone();
    let committed = tokio::spawn(async move {
        let mut session = writer.session()?;
        session.run(|conn| insert(conn, 10)).await?;
        session.run(|conn| insert(conn, 11)).await?;
        session.commit().await
    });
    let writer = f.writer.clone();
    let dropped = tokio::spawn(async move {
        let mut session = writer.session()?;
        session.run(|conn| insert(conn, 20)).await
        // Dropped here, unended: a cancelled request.
    });
    let writer = f.writer.clone();
    let rolled_back = tokio::spawn(async move {
        let mut session = writer.session()?;
        // A failed step keeps nothing, and the session goes on.
        assert!(session.run(|conn| insert(conn, 0)).await.is_err());
        session.run(|conn| insert(conn, 30)).await?;
        session.rollback().await
    });
    let kept = f.insert(&[40]);
    f.until_queued(4).await;
    open.send(()).unwrap();
    assert!(gate.await.unwrap().is_ok());
    assert!(committed.await.unwrap().is_ok());
    assert!(dropped.await.unwrap().is_ok());
    assert!(rolled_back.await.unwrap().is_ok());
    assert!(kept.await.unwrap().is_ok());
    assert_eq!(f.rows(), [0, 10, 11, 40]);
}

#[tokio::test]
async fn with_no_wait_allowed_a_write_still_joins_the_next_batch() {
    let f = fixture(Duration::ZERO);
    assert!(f.insert(&[1]).await.unwrap().is_ok());
    let (open, gate) = f.gate(2);
    let next = f.insert(&[3]);
    f.until_queued(1).await;
    open.send(()).unwrap();
    assert!(gate.await.unwrap().is_ok());
    assert!(next.await.unwrap().is_ok());
    assert_eq!(f.rows(), [1, 2, 3]);
}
