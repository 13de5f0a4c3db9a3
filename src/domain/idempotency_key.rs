//! Idempotency keys: what a client sends, and the response kept for replay.

use sha2::{Digest, Sha256};

pub const KEY_MAX_CHARS: usize = 255;

/// The owner of keys sent without an API key (API key ids start at 1).
pub const ANONYMOUS: i64 = 0;

/// The route a key belongs to: one key may be used once on each route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    CreateUser,
    CreateOrder,
}

impl Scope {
    /// As stored in `orderly_idempotency_keys.scope`: the route's method
    /// and path, readable in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateUser => "POST /api/v1/users",
            Self::CreateOrder => "POST /api/v1/orders",
        }
    }
}

/// A validated `Idempotency-Key` for one route and one client, with the
/// fingerprint of the request body it came with ("same body" means
/// byte-identical).
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The route the key belongs to.
    pub scope: Scope,
    /// The API key that sent it ([`ANONYMOUS`] without one): two clients
    /// that pick the same key never see each other's responses.
    pub owner: i64,
    pub key: String,
    /// SHA-256 of the raw request body.
    pub fingerprint: Vec<u8>,
}

impl IdempotencyKey {
    pub fn parse(scope: Scope, owner: i64, raw: &str, body: &[u8]) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > KEY_MAX_CHARS {
            return Err(format!(
                "`Idempotency-Key` must be 1 to {KEY_MAX_CHARS} characters"
            ));
        }
        if !raw.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err("`Idempotency-Key` must be printable ASCII characters".into());
        }
        Ok(Self {
            scope,
            owner,
            key: raw.to_owned(),
            fingerprint: Sha256::digest(body).to_vec(),
        })
    }
}

/// The response a repeat of an idempotent request gets back, as plain data:
/// status, the headers that matter, and the body, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_printable_characters() {
        assert!(IdempotencyKey::parse(Scope::CreateUser, ANONYMOUS, "", b"").is_err());
        assert!(
            IdempotencyKey::parse(Scope::CreateUser, ANONYMOUS, &"k".repeat(256), b"").is_err()
        );
        assert!(IdempotencyKey::parse(Scope::CreateUser, ANONYMOUS, "a\u{1}b", b"").is_err());
        assert!(IdempotencyKey::parse(Scope::CreateUser, ANONYMOUS, "a\u{0}b", b"").is_err());
        assert!(IdempotencyKey::parse(Scope::CreateUser, ANONYMOUS, &"k".repeat(255), b"").is_ok());
    }

    #[test]
    fn each_route_is_stored_as_its_method_and_path() {
        assert_eq!(Scope::CreateUser.as_str(), "POST /api/v1/users");
        assert_eq!(Scope::CreateOrder.as_str(), "POST /api/v1/orders");
    }

    #[test]
    fn fingerprints_differ_for_different_bytes() {
        let a = IdempotencyKey::parse(Scope::CreateUser, ANONYMOUS, "k", br#"{"a":1}"#).unwrap();
        let b = IdempotencyKey::parse(Scope::CreateUser, ANONYMOUS, "k", br#"{"a": 1}"#).unwrap();
        assert_ne!(a.fingerprint, b.fingerprint);
    }
}
