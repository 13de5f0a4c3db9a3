//! `Idempotency-Key` on both POSTs: every row of API.md's Idempotency section.

use serde_json::Value;

mod concurrency;
mod expiry;
mod replay;

pub const USERS: &str = "/api/v1/users";
pub const ORDERS: &str = "/api/v1/orders";

/// What a test compares between a request and its repeats.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// `Idempotent-Replayed: true`.
    pub replayed: bool,
    pub location: String,
    pub etag: String,
    /// The body, byte for byte.
    pub body: Vec<u8>,
}

impl Answer {
    pub async fn of(resp: reqwest::Response) -> Self {
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let (status, replayed) = (
            resp.status().as_u16(),
            header("idempotent-replayed") == "true",
        );
        let (location, etag) = (header("location"), header("etag"));
        let body = resp.bytes().await.expect("a body").to_vec();
        Self {
            status,
            replayed,
            location,
            etag,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}
