//! The statements in flight on one connection, and the one wait their
//! outcomes may need: a statement that found its connection closed waits
//! until every other statement in flight there has either read its own
//! answer or found the connection closed too. One of those answers may be
//! the server's FATAL saying its backend was stopping (57P01), which means
//! the statements queued behind it never reached the server; the statement
//! that found the connection closed must know that before its outcome is
//! decided. It waits for an event (the others settling, each noting what
//! it was told first), never for a guessed time; the statement's own time
//! limit bounds it, and past it the outcome is "may have run" (503, never
//! a second write).
//!
//! On the way of every statement, so it costs atomics only: the wakeup
//! is sent only while a closed statement waits.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

#[derive(Default)]
pub struct InFlight {
    /// Statements in flight.
    running: AtomicUsize,
    /// Of those, how many found the connection closed and wait.
    closed: AtomicUsize,
    settled: Notify,
}

/// One statement in flight; it settles when dropped.
pub struct Entered<'a>(&'a InFlight);

impl InFlight {
    pub fn enter(&self) -> Entered<'_> {
        self.running.fetch_add(1, Ordering::SeqCst);
        Entered(self)
    }

    pub fn any(&self) -> bool {
        self.running.load(Ordering::Relaxed) > 0
    }

    /// For a statement in flight (`_me`) that found the connection closed:
    /// returns once every statement in flight has settled or found it
    /// closed too.
    pub async fn until_others_settled(&self, _me: &Entered<'_>) {
        let _closed = Closed::enter(self);
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if self.running.load(Ordering::SeqCst) == self.closed.load(Ordering::SeqCst) {
                return;
            }
            settled.await;
        }
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        if self.0.closed.load(Ordering::SeqCst) > 0 {
            self.0.settled.notify_waiters();
        }
    }
}

/// A statement waiting in `until_others_settled`.
struct Closed<'a>(&'a InFlight);

impl<'a> Closed<'a> {
    fn enter(in_flight: &'a InFlight) -> Self {
        in_flight.closed.fetch_add(1, Ordering::SeqCst);
        in_flight.settled.notify_waiters();
        Self(in_flight)
    }
}

impl Drop for Closed<'_> {
    fn drop(&mut self) {
        self.0.closed.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_closed_statement_waits_for_the_one_ahead_to_read_its_answer_and_no_longer() {
        let in_flight = InFlight::default();
        let ahead = in_flight.enter();
        let me = in_flight.enter();
        let behind = in_flight.enter();
        // Each settles (drops its entry) once its outcome is decided.
        let waiting = async {
            in_flight.until_others_settled(&me).await;
            drop(me);
            tokio::time::Instant::now()
        };
        // The one behind also found the connection closed; the one ahead
        // reads its answer after 5 ms.
        let others = async {
            let also_closed = async {
                in_flight.until_others_settled(&behind).await;
                drop(behind);
            };
            let answer_read = async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(ahead);
            };
            tokio::join!(also_closed, answer_read);
        };
        let started = tokio::time::Instant::now();
        let (done_at, ()) = tokio::join!(waiting, others);
        assert_eq!(done_at - started, Duration::from_millis(5));
        assert!(!in_flight.any());
    }

    #[tokio::test]
    async fn alone_it_does_not_wait() {
        let in_flight = InFlight::default();
        let me = in_flight.enter();
        in_flight.until_others_settled(&me).await;
        assert!(in_flight.any());
        drop(me);
        assert!(!in_flight.any());
    }
}
