//! One delivery attempt: the event JSON, signed per Standard Webhooks,
//! POSTed to the receiver with a time limit, no redirects and no proxy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use rustls::{ClientConfig, RootCertStore};

use super::guard::GuardedResolver;
use crate::domain::webhook::is_public_address;
use crate::domain::EndpointUrl;
use crate::storage::webhooks::Claimed;

/// What a receiver did with an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// It answered with this status.
    Answered(u16),
    /// No answer: refused, unreachable, timed out, or not allowed.
    NoAnswer(String),
}

pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    pub fn new(timeout: Duration, allow_private: bool) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls()?)
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            // A redirect could lead anywhere, past the address check.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .user_agent(concat!(
                "orderly/",
                env!("CARGO_PKG_VERSION"),
                " (webhooks)"
            ))
            .build()
            .context("could not build the webhook client")?;
        Ok(Self {
            client,
            allow_private,
        })
    }

    /// Sends `claimed`'s event to its endpoint once; how long it took.
    pub async fn send(&self, claimed: &Claimed, body: Vec<u8>) -> (Sent, Duration) {
        let started = Instant::now();
        let sent = self.try_send(claimed, body).await;
        (sent, started.elapsed())
    }

    async fn try_send(&self, claimed: &Claimed, body: Vec<u8>) -> Sent {
        let url = match EndpointUrl::parse(&claimed.url) {
            Ok(url) => url,
            Err(e) => return Sent::NoAnswer(format!("the stored URL is unusable: {e}")),
        };
        // An address in the URL is connected to without a lookup, so the
        // resolver's check never sees it.
        if let Some(ip) = url.literal_ip() {
            if !self.allow_private && !is_public_address(ip) {
                return Sent::NoAnswer(format!(
                    "{ip} is a private address; refused without --webhooks-allow-private"
                ));
            }
        }
        let id = claimed.event.id.to_string();
        let timestamp = Utc::now().timestamp();
        let signature = match standardwebhooks::Webhook::new(claimed.secret.expose())
            .and_then(|signer| signer.sign(&id, timestamp, &body))
        {
            Ok(signature) => signature,
            Err(e) => return Sent::NoAnswer(format!("could not sign: {e}")),
        };
        let request = self
            .client
            .post(url.url().clone())
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body);
        match request.send().await {
            Ok(response) => Sent::Answered(response.status().as_u16()),
            Err(e) => Sent::NoAnswer(describe(&e)),
        }
    }
}

/// The error and its causes on one line ("error sending request: client
/// error (Connect): tcp connect error: Connection refused").
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer within --webhook-timeout-ms".into();
    }
    let mut line = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}

/// TLS for `https` receivers: the system's trusted CAs, on `ring` (as the
/// PostgreSQL connections).
#[allow(deprecated)]
fn tls() -> anyhow::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        tracing::warn!("no trusted CAs found on this machine (Debian: the ca-certificates package): deliveries to https receivers will fail");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS for webhooks")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
