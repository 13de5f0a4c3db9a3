//! The idempotency decision both backends share: given the row stored under
//! a key (if any), replay it, refuse the request, or let it execute.

use crate::domain::{IdempotencyKey, StoredResponse};

use super::{StoreError, StoreResult};

/// A stored row as a backend read it.
pub struct StoredKey {
    pub fingerprint: Vec<u8>,
    pub response: StoredResponse,
    /// Younger than the time to live.
    pub live: bool,
}

/// What to do with a request that carries `key`.
pub enum Decision {
    /// Nothing live is stored: execute, and store the response.
    /// `expired` says a stale row must be removed first.
    Execute {
        expired: bool,
    },
    Replay(StoredResponse),
}

pub fn decide(key: &IdempotencyKey, stored: Option<StoredKey>) -> StoreResult<Decision> {
    match stored {
        None => Ok(Decision::Execute { expired: false }),
        Some(row) if !row.live => Ok(Decision::Execute { expired: true }),
        Some(row) if row.fingerprint != key.fingerprint => Err(StoreError::KeyReused),
        Some(row) => Ok(Decision::Replay(row.response)),
    }
}

/// Headers are stored as a JSON array of `[name, value]` pairs.
pub fn encode_headers(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).unwrap_or_else(|_| "[]".into())
}

pub fn decode_headers(text: &str) -> Vec<(String, String)> {
    serde_json::from_str(text).unwrap_or_default()
}
