//! Webhook deliveries: a dispatcher beside the requests, on every
//! instance, that queues each endpoint's new events, claims the due
//! deliveries (no two instances claim the same one), sends each once,
//! signed, and writes down what happened. At least once: a delivery whose
//! instance dies mid-send is claimed again when its lease runs out.
//!
//! A slow or dead receiver never slows the API: nothing here runs on a
//! request's path, and each endpoint has at most `IN_FLIGHT` attempts
//! running. While an endpoint fails, only its oldest pending delivery is
//! tried, on the retry schedule (`schedule.rs`), so that it receives its
//! backlog oldest first once it answers again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::config::EventSettings;
use crate::domain::DeliveryState;
use crate::storage::webhooks::{Attempt, Claimed};
use crate::storage::WebhookStore;
use crate::telemetry::metrics::{WEBHOOK_DELIVERIES, WEBHOOK_DURATION, WEBHOOK_OLDEST_PENDING};

mod guard;
pub mod schedule;
mod sender;

pub use schedule::Schedule;
pub use sender::{Sender, Sent};

/// Attempts running at once per endpoint, across instances.
pub const IN_FLIGHT: i64 = 16;

/// Deliveries queued ahead per endpoint: past them, a slow receiver's
/// backlog waits in the feed instead of being copied at the pace events
/// are written (a second write per event, competing with the API's).
const QUEUE_AHEAD: i64 = 1000;

/// How often the dispatcher looks for new events (and for due work when
/// the last look found none).
const IDLE_POLL: Duration = Duration::from_millis(200);

/// The least time between two rounds started by attempts ending: under a
/// fast receiver, one round claims for the many that ended meanwhile.
const ROUND_GAP: Duration = Duration::from_millis(10);

/// How often deliveries past their retry period are marked failed, and the
/// oldest pending one's age is measured.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// A claim outlives its attempt by this much: the attempt ends at the
/// timeout, and recording it takes a moment more.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

pub struct Dispatcher {
    store: Arc<dyn WebhookStore>,
    sender: Arc<Sender>,
    schedule: Schedule,
    lease: Duration,
}

impl Dispatcher {
    pub fn new(store: Arc<dyn WebhookStore>, settings: &EventSettings) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            sender: Arc::new(Sender::new(settings.timeout, settings.allow_private)?),
            schedule: Schedule::of(settings),
            lease: settings.timeout + LEASE_MARGIN,
        })
    }

    /// Runs until dropped (aborted at shutdown: an attempt cut short is
    /// claimed again once its lease runs out).
    pub async fn run(self) {
        let this = Arc::new(self);
        let mut failing = false;
        let mut last_sweep: Option<Instant> = None;
        let mut last_queued: Option<Instant> = None;
        // The attempts running; dropped (so aborted) with this future.
        let mut attempts = JoinSet::new();
        loop {
            while attempts.try_join_next().is_some() {}
            if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
                last_sweep = Some(Instant::now());
                this.sweep().await;
            }
            // New events are looked for at the poll's pace, not on every
            // attempt's end.
            let queue = last_queued.is_none_or(|at| at.elapsed() >= IDLE_POLL);
            if queue {
                last_queued = Some(Instant::now());
            }
            match this.round(queue, &mut attempts).await {
                Ok(worked) => {
                    if failing {
                        failing = false;
                        tracing::info!("webhook deliveries resumed");
                    }
                    // Next round once an attempt ends (its slot is free) or the
                    // poll comes round: never a busy loop behind a slow receiver.
                    if !attempts.is_empty() {
                        tokio::select! {
                            _ = attempts.join_next() => tokio::time::sleep(ROUND_GAP).await,
                            () = tokio::time::sleep(IDLE_POLL) => {}
                        }
                    } else if !worked {
                        tokio::time::sleep(IDLE_POLL).await;
                    }
                }
                Err(e) => {
                    if !failing {
                        failing = true;
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "webhook deliveries paused: the database did not answer; retrying"
                        );
                    }
                    tokio::time::sleep(IDLE_POLL * 5).await;
                }
            }
        }
    }

    /// Queues new events and starts the due attempts; whether there was
    /// anything to do.
    async fn round(
        self: &Arc<Self>,
        queue: bool,
        attempts: &mut JoinSet<()>,
    ) -> anyhow::Result<bool> {
        let queued = match queue {
            true => self.store.queue_deliveries(QUEUE_AHEAD).await?,
            false => 0,
        };
        let claimed = self.store.claim(self.lease, IN_FLIGHT).await?;
        let worked = queued > 0 || !claimed.is_empty();
        for claim in claimed {
            let this = self.clone();
            attempts.spawn(async move { this.attempt(claim).await });
        }
        Ok(worked)
    }

    async fn attempt(&self, claimed: Claimed) {
        let body = crate::http::events::event_json(&claimed.event);
        let (sent, took) = self.sender.send(&claimed, body).await;
        let attempt = self.schedule.judge(&claimed, &sent);
        log_attempt(&claimed, &sent, &attempt, took);
        metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => outcome(&attempt)).increment(1);
        metrics::histogram!(WEBHOOK_DURATION).record(took.as_secs_f64());
        // Unrecorded, the lease runs out and the delivery is attempted
        // again: at least once, never lost.
        if let Err(e) = self.store.record(&claimed, &attempt).await {
            tracing::warn!(event_id = %claimed.event.id, endpoint_id = claimed.endpoint_id, error = %e,
                "could not record a webhook attempt; it will be made again once its lease runs out");
        }
    }

    /// Gives up what outlived its retry period, and measures the backlog.
    async fn sweep(&self) {
        match self.store.give_up_after(self.schedule.period).await {
            Ok(0) | Err(_) => {}
            Ok(n) => tracing::warn!(
                deliveries = n,
                "gave up webhook deliveries not delivered within the retry period"
            ),
        }
        if let Ok(age) = self.store.oldest_pending_age().await {
            let seconds = age.map_or(0.0, |a| a.as_secs_f64());
            metrics::gauge!(WEBHOOK_OLDEST_PENDING).set(seconds);
        }
    }
}

fn outcome(attempt: &Attempt) -> &'static str {
    match (attempt.state, attempt.status) {
        (DeliveryState::Delivered, _) => "delivered",
        (DeliveryState::Pending, _) => "retrying",
        (DeliveryState::Failed, Some(410)) => "gone",
        (DeliveryState::Failed, _) => "failed",
    }
}

/// One line per attempt: which event, where, what came of it; never the
/// body.
fn log_attempt(claimed: &Claimed, sent: &Sent, attempt: &Attempt, took: Duration) {
    let status = match sent {
        Sent::Answered(status) => Some(*status),
        Sent::NoAnswer(_) => None,
    };
    let took_ms = took.as_millis() as u64;
    let event_id = claimed.event.id.to_string();
    match attempt.state {
        DeliveryState::Delivered => tracing::info!(
            event_id,
            event_type = claimed.event.kind.as_str(),
            endpoint_id = claimed.endpoint_id,
            attempt = claimed.attempts,
            status,
            took_ms,
            "webhook delivered"
        ),
        _ => tracing::warn!(
            event_id,
            event_type = claimed.event.kind.as_str(),
            endpoint_id = claimed.endpoint_id,
            attempt = claimed.attempts,
            status,
            took_ms,
            error = attempt.error.as_deref().unwrap_or_default(),
            outcome = outcome(attempt),
            retry_in_ms = attempt.retry_in.as_millis() as u64,
            "webhook attempt failed"
        ),
    }
}
