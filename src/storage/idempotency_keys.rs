//! Responses stored under idempotency keys: rows and locks only. What a
//! stored row means (replay it, refuse the request, or let it run) is the
//! application layer's policy (`app::idempotency`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreError, StoreResult, Tx};
use crate::domain::{IdempotencyKey, SavedResponse};

/// A row as stored.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub fingerprint: Vec<u8>,
    pub response: SavedResponse,
    pub created_at: DateTime<Utc>,
}

impl StoredKey {
    /// A row from its columns as either backend reads them; an error if
    /// its headers cannot be read.
    pub(super) fn from_columns(
        fingerprint: Vec<u8>,
        status: i64,
        headers: &str,
        body: Vec<u8>,
        created_at: DateTime<Utc>,
    ) -> StoreResult<Self> {
        Ok(Self {
            fingerprint,
            response: SavedResponse {
                status: status as u16,
                headers: decode_headers(headers)?,
                body,
            },
            created_at,
        })
    }
}

/// The outcome of claiming a key.
pub enum Claim {
    /// The key is held until `tx` ends; `stored` is the row under it, if
    /// any. The work and its response are written through `tx`.
    Held { tx: Tx, stored: Option<StoredKey> },
    /// Another transaction (another instance, say) holds the key right now.
    HeldElsewhere,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Opens a write transaction that holds `key` until it ends, and reads
    /// the row stored under it. A crash releases the hold with the
    /// transaction, so nothing is left behind to block a retry.
    async fn claim(&self, key: &IdempotencyKey) -> StoreResult<Claim>;
    /// Deletes up to `batch` rows stored before `cutoff`; returns how many.
    async fn delete_stored_before(&self, cutoff: DateTime<Utc>, batch: u32) -> StoreResult<u64>;
}

/// Headers are stored as a JSON array of `[name, value]` pairs.
pub(super) fn encode_headers(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).unwrap_or_else(|_| "[]".into())
}

/// The stored headers; a row whose headers cannot be read is an error
/// (500, cause logged), never a replay without its `Location` or `ETag`.
fn decode_headers(text: &str) -> StoreResult<Vec<(String, String)>> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::other("a stored response's headers cannot be read", e))
}
