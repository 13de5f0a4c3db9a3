//! Event use cases: the feed, its retention, and the webhook endpoints
//! that events are delivered to (the deliveries themselves are the
//! dispatcher's, `crate::webhooks`).

use chrono::Utc;

use super::{App, AppError, AppResult};
use crate::domain::{
    Delivery, Endpoint, Event, EventId, EventType, FeedPosition, Limit, NewEndpoint, PageRequest,
    WebhookSecret,
};

/// Where a feed page starts, how long it is, and which types it holds.
#[derive(Debug, Clone, Default)]
pub struct FeedRequest {
    pub after: FeedPosition,
    pub limit: Limit,
    pub types: Option<Vec<EventType>>,
}

/// Whether receivers on this machine or a private network are allowed
/// (`--webhooks-allow-private`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrivateReceivers(pub bool);

impl App {
    /// Allows receivers on this machine or a private network, or not.
    pub fn allow_private_receivers(&mut self, allowed: PrivateReceivers) {
        self.private_receivers = allowed;
    }

    /// A page of the feed, in feed order. Served from the primary: only
    /// there is the horizon of running transactions known.
    pub async fn events(&self, request: &FeedRequest) -> AppResult<Vec<Event>> {
        let limit = i64::from(request.limit.get());
        Ok(self
            .events
            .feed(request.after, limit, request.types.as_deref())
            .await?)
    }

    /// Deletes events older than `retention`; how many.
    pub async fn purge_old_events(&self, retention: chrono::Duration) -> AppResult<u64> {
        Ok(self.events.purge_events(Utc::now() - retention).await?)
    }

    /// Adds an endpoint and makes its secret, shown to the caller this once.
    pub async fn add_webhook(&self, new: NewEndpoint) -> AppResult<(Endpoint, WebhookSecret)> {
        if new.url.names_private_host() && !self.private_receivers.0 {
            return Err(AppError::PrivateReceiver);
        }
        let secret = WebhookSecret::generate();
        let endpoint = self.webhooks.add_endpoint(&new, &secret).await?;
        Ok((endpoint, secret))
    }

    pub async fn webhooks(&self, page: &PageRequest) -> AppResult<Vec<Endpoint>> {
        Ok(self.webhooks.list_endpoints(page).await?)
    }

    pub async fn webhook(&self, id: i64) -> AppResult<Endpoint> {
        self.webhooks
            .endpoint(id)
            .await?
            .ok_or(AppError::NotFound("webhook endpoint"))
    }

    pub async fn remove_webhook(&self, id: i64) -> AppResult<()> {
        match self.webhooks.remove_endpoint(id).await? {
            true => Ok(()),
            false => Err(AppError::NotFound("webhook endpoint")),
        }
    }

    /// A page of one endpoint's deliveries; `NotFound` without the endpoint.
    pub async fn webhook_deliveries(
        &self,
        endpoint_id: i64,
        page: &PageRequest,
    ) -> AppResult<Vec<Delivery>> {
        self.webhook(endpoint_id).await?;
        Ok(self.webhooks.deliveries(endpoint_id, page).await?)
    }

    /// Sends one event to one endpoint again, now.
    pub async fn resend_webhook(&self, endpoint_id: i64, event: EventId) -> AppResult<Delivery> {
        self.webhook(endpoint_id).await?;
        self.webhooks
            .resend(endpoint_id, event)
            .await?
            .ok_or(AppError::NotFound(
                "delivery of this event to this endpoint",
            ))
    }
}
