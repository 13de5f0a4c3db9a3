//! Webhook endpoints and deliveries in storage. The dispatcher
//! (`crate::webhooks`) queues each endpoint's events as deliveries, claims
//! the due ones under a lease, sends them, and records each attempt; the
//! policy (when to retry, when to give up) is the dispatcher's, the
//! bookkeeping is here.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{
    Delivery, DeliveryState, Endpoint, Event, EventId, NewEndpoint, PageRequest, WebhookSecret,
};

/// A delivery claimed for one attempt: no other instance attempts it until
/// the lease runs out.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub endpoint_id: i64,
    pub url: String,
    pub secret: WebhookSecret,
    /// The endpoint's failed attempts in a row when this was claimed.
    pub endpoint_failures: i32,
    pub event: Event,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// When the delivery was queued: its retry period counts from here.
    pub queued_at: DateTime<Utc>,
}

/// What became of an attempt, as it is written down.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub state: DeliveryState,
    pub status: Option<i32>,
    pub error: Option<String>,
    /// For a delivery still pending: how long until its next attempt.
    pub retry_in: Duration,
    pub endpoint: EndpointAfter,
}

/// What an attempt means for its endpoint.
#[derive(Debug, Clone)]
pub enum EndpointAfter {
    /// It answered: deliveries go out at full pace again.
    Healthy,
    /// It failed: one more failure in a row, and nothing more is sent
    /// before `retry_in` has passed.
    Failing { retry_in: Duration },
    /// It answered 410 Gone: it is disabled, for this reason.
    Disabled { reason: String },
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Adds an endpoint; it receives the events committed from now on.
    async fn add_endpoint(
        &self,
        new: &NewEndpoint,
        secret: &WebhookSecret,
    ) -> StoreResult<Endpoint>;
    async fn list_endpoints(&self, page: &PageRequest) -> StoreResult<Vec<Endpoint>>;
    async fn endpoint(&self, id: i64) -> StoreResult<Option<Endpoint>>;
    /// Removes an endpoint and its deliveries; `false` if there was none.
    async fn remove_endpoint(&self, id: i64) -> StoreResult<bool>;
    /// A page of one endpoint's deliveries, oldest event first.
    async fn deliveries(&self, endpoint_id: i64, page: &PageRequest) -> StoreResult<Vec<Delivery>>;
    /// Queues the delivery of `event` to the endpoint again, now, with a
    /// new retry period, whatever became of it; `None` when the endpoint
    /// has no delivery of that event.
    async fn resend(&self, endpoint_id: i64, event: EventId) -> StoreResult<Option<Delivery>>;

    /// Queues, for every enabled endpoint, a delivery of each event it
    /// subscribes to past its place in the feed, and moves that place on,
    /// until the endpoint has `ahead` deliveries pending: a slow receiver's
    /// backlog stays in the feed, not copied into deliveries at the pace
    /// events are written. How many were queued.
    async fn queue_deliveries(&self, ahead: i64) -> StoreResult<u64>;
    /// Claims due deliveries, oldest event first, under a lease of
    /// `lease`: at most `in_flight` per endpoint at a time (leases still
    /// running count), and one only from an endpoint that is failing,
    /// whose next try is then put off by `lease`.
    async fn claim(&self, lease: Duration, in_flight: i64) -> StoreResult<Vec<Claimed>>;
    /// Writes down the attempt at `claimed` and ends its lease.
    async fn record(&self, claimed: &Claimed, attempt: &Attempt) -> StoreResult<()>;
    /// Marks failed every pending delivery queued longer than `period` ago
    /// that is not being attempted now; how many.
    async fn give_up_after(&self, period: Duration) -> StoreResult<u64>;
    /// How long the oldest delivery still pending has waited.
    async fn oldest_pending_age(&self) -> StoreResult<Option<Duration>>;
}
