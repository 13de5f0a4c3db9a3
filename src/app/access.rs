//! Access control: which API key a request carries, and what it may do.
//!
//! - **Open or keyed.** With no active key the API is open, but only where
//!   the operator allowed it (a loopback address, or `--allow-anonymous`);
//!   elsewhere every request is refused until a key exists. Once one key
//!   is active, every request needs one.
//! - **Every instance, within a second.** Each instance keeps the active
//!   keys' digests in memory and reloads them from the database every
//!   [`REFRESH`], so a key created or revoked anywhere (another instance,
//!   the `orderly keys` command) takes effect everywhere without a restart.
//!   When the database cannot be read, the last loaded set stays in force.
//! - **Constant time.** A presented key is hashed and compared with every
//!   active digest, each comparison in constant time.
//! - **Last use, cheaply.** A request only notes the time in memory; the
//!   reload writes `last_used_at` when it moved by a minute or more, so the
//!   column is current to about a minute without a write per request.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{AppError, AppResult};
use crate::domain::api_key::presented_digest;
use crate::domain::idempotency_key::ANONYMOUS;
use crate::domain::{ApiKey, KeyDigest, KeyName, NewSecret, Role};
use crate::storage::{ActiveKeys, ApiKeyStore, StoreResult};

/// How often every instance reloads the active keys.
pub const REFRESH: Duration = Duration::from_secs(1);

/// How far `last_used_at` may lag behind a key's real last use.
const USE_RECORDED_EVERY_SECS: i64 = 60;

/// Who sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// No key is configured, and the operator allows that.
    Anonymous,
    Key {
        id: i64,
        role: Role,
    },
}

impl Caller {
    /// Whether the caller may manage the service (webhook endpoints): an
    /// admin key, or anyone where the API runs open.
    pub fn may_administer(self) -> bool {
        match self {
            Self::Anonymous => true,
            Self::Key { role, .. } => role.may_write(),
        }
    }

    /// Whose idempotency keys the request's key is among.
    pub fn idempotency_owner(self) -> i64 {
        match self {
            Self::Anonymous => ANONYMOUS,
            Self::Key { id, .. } => id,
        }
    }
}

/// What a request presents to prove who sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    None,
    /// Something that is not a bearer token (another scheme, two headers,
    /// bytes that are not text).
    Unreadable,
    Bearer(&'a str),
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("this API needs an API key: send `Authorization: Bearer <key>`")]
    Missing,
    #[error("the `Authorization` header must be `Bearer` followed by an API key")]
    Malformed,
    #[error("the API key is unknown or revoked")]
    Unknown,
    #[error("this API key may only read")]
    ReadOnly,
    #[error("managing webhook endpoints needs an admin API key")]
    NotAdmin,
}

/// When a key was last used and last recorded, in Unix seconds (0: not yet).
#[derive(Default)]
struct Usage {
    used: AtomicI64,
    recorded: AtomicI64,
}

struct CachedKey {
    id: i64,
    role: Role,
    digest: KeyDigest,
    usage: Arc<Usage>,
}

/// The active keys, as last loaded.
#[derive(Default)]
struct KeySet {
    keys: Vec<CachedKey>,
    /// Some key was ever issued: the API is closed, even with every key
    /// revoked, until the revoked keys are forgotten (`orderly keys
    /// forget-revoked`). Revoking the last key never reopens it.
    closed: bool,
}

impl KeySet {
    /// Carries each key's usage over from `previous`, so no use is lost to
    /// a reload.
    fn load(active: ActiveKeys, previous: &KeySet) -> Self {
        let keys = active
            .keys
            .into_iter()
            .map(|key| {
                let usage = previous
                    .keys
                    .iter()
                    .find(|old| old.id == key.id)
                    .map_or_else(Arc::default, |old| old.usage.clone());
                CachedKey {
                    id: key.id,
                    role: key.role,
                    digest: key.digest,
                    usage,
                }
            })
            .collect();
        Self {
            keys,
            closed: active.any_issued,
        }
    }

    /// The key with `digest`. Every digest is compared, each in constant
    /// time, with no early exit.
    fn find(&self, digest: &KeyDigest) -> Option<&CachedKey> {
        let mut found = None;
        for key in &self.keys {
            if key.digest.matches(digest) {
                found = Some(key);
            }
        }
        found
    }
}

pub struct Access {
    store: Arc<dyn ApiKeyStore>,
    keys: RwLock<Arc<KeySet>>,
    /// Whether the API may run open when no key is active.
    anonymous_allowed: bool,
}

impl Access {
    /// Loads the active keys: a request is never checked against a set
    /// that was not read.
    pub async fn load(store: Arc<dyn ApiKeyStore>, anonymous_allowed: bool) -> AppResult<Self> {
        let access = Self {
            store,
            keys: RwLock::default(),
            anonymous_allowed,
        };
        access.reload().await?;
        Ok(access)
    }

    /// Whether the API runs open right now.
    pub fn is_open(&self) -> bool {
        !self.current().closed
    }

    /// Who sent a request with `credential`, if it may do what it asks
    /// (`writes`: change data). An open API ignores credentials.
    pub fn authenticate(&self, credential: Credential, writes: bool) -> Result<Caller, Denied> {
        let keys = self.current();
        if !keys.closed && self.anonymous_allowed {
            return Ok(Caller::Anonymous);
        }
        let token = match credential {
            Credential::None => return Err(Denied::Missing),
            Credential::Unreadable => return Err(Denied::Malformed),
            Credential::Bearer(token) => token,
        };
        let digest = presented_digest(token).ok_or(Denied::Unknown)?;
        let key = keys.find(&digest).ok_or(Denied::Unknown)?;
        let now = Utc::now().timestamp();
        // Only a changed second is written: requests do not all contend
        // for the one cache line.
        if key.usage.used.load(Ordering::Relaxed) != now {
            key.usage.used.store(now, Ordering::Relaxed);
        }
        if writes && !key.role.may_write() {
            return Err(Denied::ReadOnly);
        }
        Ok(Caller::Key {
            id: key.id,
            role: key.role,
        })
    }

    /// Records the keys' last uses (before a revoked key drops out of the
    /// set), then reloads the active keys.
    pub async fn refresh(&self) -> AppResult<()> {
        self.record_uses().await?;
        self.reload().await?;
        Ok(())
    }

    pub async fn create_key(&self, role: Role, name: KeyName) -> AppResult<(ApiKey, NewSecret)> {
        let secret = NewSecret::generate();
        let key = self.store.insert_key(&name, role, &secret.digest()).await?;
        self.reload().await?;
        Ok((key, secret))
    }

    pub async fn list_keys(&self) -> AppResult<Vec<ApiKey>> {
        Ok(self.store.list_keys().await?)
    }

    /// Deletes the revoked keys; how many went. With no key left, the
    /// API may run open again (on loopback, or with `--allow-anonymous`).
    pub async fn forget_revoked_keys(&self) -> AppResult<u64> {
        let forgotten = self.store.forget_revoked_keys().await?;
        self.reload().await?;
        Ok(forgotten)
    }

    /// Revokes key `id` (again, harmlessly, if it already is).
    pub async fn revoke_key(&self, id: i64) -> AppResult<ApiKey> {
        let key = self.store.revoke_key(id).await?;
        self.reload().await?;
        key.ok_or(AppError::NotFound("API key"))
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn reload(&self) -> StoreResult<()> {
        let active = self.store.active_keys().await?;
        let loaded = Arc::new(KeySet::load(active, &self.current()));
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = loaded;
        Ok(())
    }

    /// Writes each key's last use when it moved by a minute or more since
    /// last written (at once for the first use this process saw).
    async fn record_uses(&self) -> StoreResult<()> {
        let keys = self.current();
        for key in &keys.keys {
            let used = key.usage.used.load(Ordering::Relaxed);
            let recorded = key.usage.recorded.load(Ordering::Relaxed);
            let due = used != 0 && (recorded == 0 || used - recorded >= USE_RECORDED_EVERY_SECS);
            if !due {
                continue;
            }
            let at = DateTime::from_timestamp(used, 0).unwrap_or_default();
            self.store.record_key_use(key.id, at).await?;
            key.usage.recorded.store(used, Ordering::Relaxed);
        }
        Ok(())
    }
}
