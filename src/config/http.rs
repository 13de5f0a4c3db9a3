//! The HTTP group of settings: where to listen (an address or a host
//! name), who may call (anonymous access, browsers' origins), and how long
//! things may take.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::millis;

/// The HTTP side: where to listen, who may call, how long things may take.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP")]
pub struct HttpSettings {
    /// Address to listen on: `HOST:PORT`, the host an IP address or a
    /// name (`localhost:8080`, `[::1]:8080`, `0.0.0.0:8080`).
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "ORDERLY_BIND",
        default_value = "127.0.0.1:8080",
        value_parser = bind_address
    )]
    pub bind: BindAddress,

    /// Serve without API keys on an address other than loopback. Without
    /// it, orderly refuses to start there until a key exists.
    #[arg(long, env = "ORDERLY_ALLOW_ANONYMOUS")]
    pub allow_anonymous: bool,

    /// A web page origin whose scripts may call the API (CORS), as
    /// `https://app.example.com` (repeatable; the environment takes a
    /// comma-separated list). None by default: browsers on other origins
    /// are refused.
    #[arg(long = "cors-origin", value_name = "ORIGIN", env = "ORDERLY_CORS_ORIGINS",
          value_delimiter = ',', value_parser = cors_origin)]
    pub cors_origins: Vec<String>,

    /// How long one request may take before the service answers 503, in milliseconds.
    #[arg(long = "request-timeout-ms", env = "ORDERLY_REQUEST_TIMEOUT_MS",
          default_value = "30000", value_name = "MS", value_parser = millis)]
    pub request_timeout: Duration,

    /// After SIGTERM or Ctrl-C: how long requests already accepted may take to finish before the process exits anyway, in milliseconds.
    #[arg(long = "shutdown-timeout-ms", env = "ORDERLY_SHUTDOWN_TIMEOUT_MS",
          default_value = "30000", value_name = "MS", value_parser = millis)]
    pub shutdown_timeout: Duration,
}

impl HttpSettings {
    /// Whether the API may run open while no API key is active, once bound
    /// to `address`: on a loopback address, or when the operator says so.
    pub fn anonymous_allowed_on(&self, address: SocketAddr) -> bool {
        self.allow_anonymous || address.ip().is_loopback()
    }
}

/// Where to listen, as given: a host (an IP address or a name, resolved
/// when binding) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindAddress {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for BindAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.contains(':') {
            true => write!(f, "[{}]:{}", self.host, self.port),
            false => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

impl std::str::FromStr for BindAddress {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        bind_address(value)
    }
}

fn bind_address(value: &str) -> Result<BindAddress, String> {
    let shape =
        || format!("`{value}` is not HOST:PORT (as 127.0.0.1:8080, localhost:8080 or [::1]:8080)");
    let (host, port) = value.trim().rsplit_once(':').ok_or_else(shape)?;
    let port: u16 = port.parse().map_err(|_| shape())?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| shape())?
            .to_string(),
        None if host.is_empty() || host.contains([':', '/', ' ']) => return Err(shape()),
        None => host.to_owned(),
    };
    Ok(BindAddress { host, port })
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after.
fn cors_origin(value: &str) -> Result<String, String> {
    let origin = value.trim().trim_end_matches('/');
    let valid = match origin.split_once("://") {
        Some((scheme, rest)) => {
            matches!(scheme, "http" | "https")
                && !rest.is_empty()
                && !rest.contains(['/', '?', '#', '*', ' '])
        }
        None => false,
    };
    match valid {
        true => Ok(origin.to_owned()),
        false => Err(format!(
            "`{value}` is not an origin such as https://app.example.com (a scheme and host, maybe a port; no path, no wildcard)"
        )),
    }
}
