//! Events and webhooks: how long events are kept, and how deliveries are
//! sent and retried.

use std::time::Duration;

use clap::Args;

use super::positive_millis;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Events and webhooks")]
pub struct EventSettings {
    /// Events older than this many days are deleted from the feed (and
    /// their deliveries with them).
    #[arg(long = "event-retention-days", env = "ORDERLY_EVENT_RETENTION_DAYS",
          default_value = "30", value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub retention_days: u32,

    /// How long a webhook receiver has to answer one delivery, in
    /// milliseconds; no answer by then counts as a failed attempt.
    #[arg(long = "webhook-timeout-ms", env = "ORDERLY_WEBHOOK_TIMEOUT_MS",
          default_value = "10000", value_name = "MS", value_parser = positive_millis)]
    pub timeout: Duration,

    /// The wait before the first retry of a failed delivery, in
    /// milliseconds; each further retry waits twice as long, up to
    /// --webhook-retry-max-delay-ms, less up to a fifth at random.
    #[arg(long = "webhook-retry-first-ms", env = "ORDERLY_WEBHOOK_RETRY_FIRST_MS",
          default_value = "5000", value_name = "MS", value_parser = positive_millis)]
    pub retry_first: Duration,

    /// The longest wait between two attempts at a delivery, in milliseconds.
    #[arg(long = "webhook-retry-max-delay-ms", env = "ORDERLY_WEBHOOK_RETRY_MAX_DELAY_MS",
          default_value = "3600000", value_name = "MS", value_parser = positive_millis)]
    pub retry_max_delay: Duration,

    /// How long a delivery is retried, in hours (decimals allowed), counted
    /// from when it was queued; then it is marked failed.
    #[arg(long = "webhook-retry-hours", env = "ORDERLY_WEBHOOK_RETRY_HOURS",
          default_value = "72", value_name = "HOURS", value_parser = hours)]
    pub retry_period: Duration,

    /// Allow webhook receivers on this machine or a private network
    /// (loopback, 10/8, 172.16/12, 192.168/16, link-local, unique local
    /// IPv6, ...). Refused by default: an endpoint there would let anyone
    /// who may add one reach services that trust their network
    /// (server-side request forgery).
    #[arg(
        long = "webhooks-allow-private",
        env = "ORDERLY_WEBHOOKS_ALLOW_PRIVATE"
    )]
    pub allow_private: bool,
}

/// Hours, as a positive decimal number.
fn hours(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(h) if h.is_finite() && h > 0.0 && h <= 24.0 * 36500.0 => {
            Ok(Duration::from_secs_f64(h * 3600.0))
        }
        _ => Err(format!("`{text}` is not a positive number of hours")),
    }
}

impl EventSettings {
    pub fn retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.retention_days))
    }
}
