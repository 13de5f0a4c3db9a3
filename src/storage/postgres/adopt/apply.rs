//! Carrying out a plan's steps on a live database, one by one, each in its
//! own transaction (an index built concurrently cannot run inside one): a
//! step that fails leaves the ones before it done, and running the
//! adoption again plans only what is still missing.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::plan::{Lock, Step};

/// How long a step that blocks the old service may wait for its lock
/// before it gives up and tries again: while it waits, the old service's
/// statements queue behind it, so the wait is kept short.
const LOCK_WAIT: Duration = Duration::from_millis(500);
const LOCK_ATTEMPTS: u32 = 60;

/// What a step cost.
pub struct Done {
    /// The longest any attempt waited for and held its lock.
    pub blocking: Duration,
    pub attempts: u32,
}

pub async fn run(client: &Client, step: &Step) -> anyhow::Result<Done> {
    let lock_timeout = match step.lock {
        Lock::Brief(_) => LOCK_WAIT.as_millis(),
        Lock::None | Lock::Weak => 0,
    };
    client
        .batch_execute(&format!("SET lock_timeout = {lock_timeout}"))
        .await?;
    let mut done = Done {
        blocking: Duration::ZERO,
        attempts: 0,
    };
    loop {
        done.attempts += 1;
        let started = Instant::now();
        let result = client.batch_execute(&step.sql).await;
        done.blocking = done.blocking.max(started.elapsed());
        match result {
            Ok(()) => return Ok(done),
            Err(e)
                if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                    && done.attempts < LOCK_ATTEMPTS =>
            {
                // A transaction of the old service's holds the table: let it
                // finish, and the statements queued behind us run meanwhile.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                // A failed BEGIN ... COMMIT block leaves its transaction open.
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(e).with_context(|| {
                    format!(
                        "could not {} (after {} attempt(s)); the steps before it are done and stay, \
                         and `orderly migrate --adopt` resumes from here",
                        step.what, done.attempts
                    )
                });
            }
        }
    }
}

/// Runs every step, reporting each on `out` as it ends.
pub async fn run_all(client: &Client, steps: &[Step], out: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut longest_block: Option<(Duration, &str)> = None;
    for step in steps {
        let done = run(client, step).await?;
        writeln!(
            out,
            "  done in {} ({} attempt(s); {}): {}",
            millis(done.blocking),
            done.attempts,
            step.lock,
            step.what
        )?;
        if matches!(step.lock, Lock::Brief(_))
            && longest_block.is_none_or(|(longest, _)| done.blocking > longest)
        {
            longest_block = Some((done.blocking, &step.what));
        }
    }
    writeln!(out, "Adopted in {}.", millis(started.elapsed()))?;
    match longest_block {
        Some((took, what)) => writeln!(
            out,
            "The longest any step held up the old service's writes: {} ({what}).",
            millis(took)
        )?,
        None => writeln!(out, "No step held up the old service's writes.")?,
    }
    Ok(())
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
