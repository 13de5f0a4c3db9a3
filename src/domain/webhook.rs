//! Webhook endpoints and their deliveries: where events are sent, signed
//! with the endpoint's secret (Standard Webhooks).

use std::net::IpAddr;

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Utc};

use super::{EventId, EventType};

/// A receiver's address: an absolute `http` or `https` URL with a host
/// and no credentials, at most 2,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.chars().count() > 2000 {
            return Err("`url` must be at most 2000 characters".into());
        }
        let url = url::Url::parse(raw).map_err(|e| format!("`url` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("`url` must be an http or https URL".into());
        }
        if url.host().is_none() {
            return Err("`url` must name a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "`url` must not hold credentials; authenticate receivers by the signature".into(),
            );
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }

    /// The host when it is an IP address written out: such a URL is
    /// connected to without a lookup, so it is checked on its own.
    pub fn literal_ip(&self) -> Option<IpAddr> {
        match self.0.host()? {
            url::Host::Ipv4(ip) => Some(ip.into()),
            url::Host::Ipv6(ip) => Some(ip.into()),
            url::Host::Domain(_) => None,
        }
    }

    /// Whether the URL names this machine or a private network by itself
    /// (an address, or `localhost`): refused at once unless private
    /// receivers are allowed. Names that resolve there are refused when a
    /// delivery looks them up.
    pub fn names_private_host(&self) -> bool {
        match (self.literal_ip(), self.0.host_str()) {
            (Some(ip), _) => !is_public_address(ip),
            (None, Some(host)) => {
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                host == "localhost" || host.ends_with(".localhost")
            }
            (None, None) => true,
        }
    }
}

/// Whether a receiver at `ip` is on the public internet: not this machine,
/// not a private, shared, link-local, documentation or multicast network.
/// Deliveries anywhere else could reach services that trust their network
/// (server-side request forgery), so they need `--webhooks-allow-private`.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || first == 0x0064 && v6.segments()[1] == 0xff9b) // NAT64, maps IPv4 inside
        }
    }
}

/// An endpoint's signing secret, `whsec_` and the base64 of 24 random
/// bytes, as Standard Webhooks libraries take it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).expect("the operating system's random source works");
        Self(format!("whsec_{}", STANDARD.encode(bytes)))
    }

    /// A secret read back from storage.
    pub fn stored(secret: String) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// A new endpoint: where, and which events (all when `None`).
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: EndpointUrl,
    pub event_types: Option<Vec<EventType>>,
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: i64,
    pub url: String,
    pub event_types: Option<Vec<EventType>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Failed attempts in a row (0: healthy).
    pub failures: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not delivered yet: waiting for its first attempt or a retry.
    Pending,
    /// A 2xx answered.
    Delivered,
    /// Given up: retried for the whole retry period, or the endpoint
    /// answered 410 Gone.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn stored(raw: &str) -> Self {
        match raw {
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One event's delivery to one endpoint, as far as it has gone.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub endpoint_id: i64,
    pub event_id: EventId,
    pub event_type: EventType,
    /// Its place among the endpoint's deliveries, for paging.
    pub seq: i64,
    pub state: DeliveryState,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host_and_no_credentials_are_endpoints() {
        assert!(EndpointUrl::parse("https://hooks.example.com/orderly").is_ok());
        assert!(EndpointUrl::parse("http://203.0.113.9:8080/x").is_ok());
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "not a url",
            "",
            "javascript:alert(1)",
        ] {
            assert!(EndpointUrl::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn private_hosts_are_named_by_address_or_localhost() {
        for private in [
            "http://127.0.0.1/",
            "http://localhost:8080/",
            "http://api.localhost/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://172.16.5.5/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
        ] {
            let url = EndpointUrl::parse(private).unwrap();
            assert!(url.names_private_host(), "{private} passed as public");
        }
        for public in [
            "https://example.com/",
            "http://8.8.8.8/",
            "http://[2606:4700::1111]/",
        ] {
            let url = EndpointUrl::parse(public).unwrap();
            assert!(!url.names_private_host(), "{public} refused as private");
        }
    }

    #[test]
    fn secrets_are_whsec_and_24_random_bytes() {
        let (a, b) = (WebhookSecret::generate(), WebhookSecret::generate());
        assert_ne!(a, b);
        let raw = a.expose().strip_prefix("whsec_").unwrap();
        assert_eq!(STANDARD.decode(raw).unwrap().len(), 24);
        assert_eq!(format!("{a:?}"), "WebhookSecret(..)");
    }
}
