//! When a failed delivery is tried again, and when it is given up: the
//! one place the retry policy lives.

use std::time::Duration;

use chrono::Utc;

use super::sender::Sent;
use crate::config::EventSettings;
use crate::domain::DeliveryState;
use crate::storage::webhooks::{Attempt, Claimed, EndpointAfter};

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub first: Duration,
    pub max: Duration,
    /// How long after it was queued a delivery is still tried.
    pub period: Duration,
}

impl Schedule {
    pub fn of(settings: &EventSettings) -> Self {
        Self {
            first: settings.retry_first,
            max: settings.retry_max_delay,
            period: settings.retry_period,
        }
    }

    /// The wait after the `n`-th failure in a row (1 for the first):
    /// `first` doubled each time, at most `max`.
    pub fn nominal(&self, n: i32) -> Duration {
        let doublings = u32::try_from(n.saturating_sub(1)).unwrap_or(0).min(40);
        self.first
            .checked_mul(1u32 << doublings.min(31))
            .map_or(self.max, |d| d.min(self.max))
    }

    /// The nominal wait less up to a fifth at random, so that deliveries
    /// (and instances) that failed together do not retry together.
    pub fn wait_after(&self, n: i32) -> Duration {
        let mut byte = [0u8; 1];
        let _ = getrandom::fill(&mut byte);
        let nominal = self.nominal(n);
        nominal - nominal.mul_f64(f64::from(byte[0]) / 255.0 / 5.0)
    }

    /// What an attempt at `claimed` that ended in `sent` means for the
    /// delivery and its endpoint.
    pub fn judge(&self, claimed: &Claimed, sent: &Sent) -> Attempt {
        let failure = match sent {
            Sent::Answered(status) if (200..300).contains(status) => {
                return Attempt {
                    state: DeliveryState::Delivered,
                    status: Some(i32::from(*status)),
                    error: None,
                    retry_in: Duration::ZERO,
                    endpoint: EndpointAfter::Healthy,
                }
            }
            Sent::Answered(410) => {
                return Attempt {
                    state: DeliveryState::Failed,
                    status: Some(410),
                    error: Some("the receiver answered 410 Gone: the endpoint is disabled".into()),
                    retry_in: Duration::ZERO,
                    endpoint: EndpointAfter::Disabled {
                        reason: format!(
                            "the receiver answered 410 Gone to {} at {}",
                            claimed.event.id,
                            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                    },
                }
            }
            Sent::Answered(status) => format!("the receiver answered {status}"),
            Sent::NoAnswer(why) => why.clone(),
        };
        let retry_in = self.wait_after(claimed.attempts);
        let endpoint_wait = self.wait_after(claimed.endpoint_failures.saturating_add(1));
        let waited = (Utc::now() - claimed.queued_at)
            .to_std()
            .unwrap_or_default();
        let out_of_time = waited + retry_in > self.period;
        Attempt {
            state: match out_of_time {
                true => DeliveryState::Failed,
                false => DeliveryState::Pending,
            },
            status: match sent {
                Sent::Answered(status) => Some(i32::from(*status)),
                Sent::NoAnswer(_) => None,
            },
            error: Some(match out_of_time {
                true => format!("{failure}; gave up: not delivered within the retry period"),
                false => failure,
            }),
            retry_in,
            endpoint: EndpointAfter::Failing {
                retry_in: endpoint_wait,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            first: Duration::from_secs(5),
            max: Duration::from_secs(3600),
            period: Duration::from_secs(72 * 3600),
        }
    }

    #[test]
    fn waits_double_from_the_first_up_to_the_max() {
        let s = schedule();
        let secs: Vec<u64> = (1..=12).map(|n| s.nominal(n).as_secs()).collect();
        assert_eq!(
            secs,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(s.nominal(1000), Duration::from_secs(3600));
    }

    #[test]
    fn jitter_takes_off_at_most_a_fifth() {
        let s = schedule();
        for n in 1..=12 {
            for _ in 0..50 {
                let wait = s.wait_after(n);
                assert!(
                    wait <= s.nominal(n) && wait >= s.nominal(n).mul_f64(0.8),
                    "{wait:?}"
                );
            }
        }
    }
}
