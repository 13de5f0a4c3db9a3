//! API keys as rows: created, listed, revoked, read whole by every instance
//! now and then, and stamped with their last use. Which key a request
//! carries, and what it may do, is the application layer's business
//! (`app::access`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{ActiveKey, ApiKey, KeyDigest, KeyName, Role};

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key's digest; returns the key as listed.
    async fn insert_key(
        &self,
        name: &KeyName,
        role: Role,
        digest: &KeyDigest,
    ) -> StoreResult<ApiKey>;
    /// Every key, revoked ones included, oldest first.
    async fn list_keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// Marks key `id` revoked (once: a second revoke keeps the first time);
    /// `None` if there is no such key.
    async fn revoke_key(&self, id: i64) -> StoreResult<Option<ApiKey>>;
    /// The keys not revoked, with their digests, and whether any key was
    /// ever issued (revoked ones count: they keep the API closed).
    async fn active_keys(&self) -> StoreResult<ActiveKeys>;
    /// Deletes the revoked keys, so that with none active the API may run
    /// open again; how many went.
    async fn forget_revoked_keys(&self) -> StoreResult<u64>;
    /// Moves key `id`'s `last_used_at` forward to `at` (never back).
    async fn record_key_use(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()>;
}

/// What every instance reloads now and then.
#[derive(Debug, Default)]
pub struct ActiveKeys {
    pub keys: Vec<ActiveKey>,
    /// Some key was issued, even if all are revoked since.
    pub any_issued: bool,
}

/// The active keys, plus the oldest key whether revoked or not: one row
/// that says keys were issued. Its columns: `id, role, digest, active`.
pub(super) const ACTIVE_KEYS: &str =
    "SELECT id, role, digest, revoked_at IS NULL FROM orderly_api_keys
    WHERE revoked_at IS NULL OR id = (SELECT min(id) FROM orderly_api_keys)";

/// `ACTIVE_KEYS`' rows, each as `(id, role, digest, active)`.
pub(super) fn active_keys_from<'r>(
    rows: impl Iterator<Item = (i64, &'r str, &'r [u8], bool)>,
) -> ActiveKeys {
    let mut found = ActiveKeys::default();
    for (id, role, digest, active) in rows {
        found.any_issued = true;
        if active {
            found.keys.push(active_key(id, role, digest));
        }
    }
    found
}

/// An active key from its columns `id, role, digest`.
fn active_key(id: i64, role: &str, digest: &[u8]) -> ActiveKey {
    ActiveKey {
        id,
        role: role_from_column(role),
        digest: digest_from_column(digest),
    }
}

/// A stored role back into the domain's; the table's check keeps it known.
pub(super) fn role_from_column(text: &str) -> Role {
    Role::parse(text).unwrap_or(Role::Read)
}

/// A stored digest back into the domain's; the column only ever holds 32 bytes.
fn digest_from_column(bytes: &[u8]) -> KeyDigest {
    let mut digest = [0u8; 32];
    if bytes.len() == digest.len() {
        digest.copy_from_slice(bytes);
    }
    KeyDigest(digest)
}
