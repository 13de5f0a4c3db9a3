//! API keys: the secret a client presents, its digest (all that is ever
//! stored), and the role it grants.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::plain_text;

/// Every key starts with this, so a leaked one is recognisable (secret
/// scanners, logs, a paste) as an orderly key.
pub const KEY_PREFIX: &str = "orderly_";
/// Random bytes per key: 256 bits, far past guessing.
const SECRET_BYTES: usize = 32;
/// Characters of the base64url text of `SECRET_BYTES` (no padding).
const SECRET_CHARS: usize = 43;
pub const KEY_NAME_MAX_CHARS: usize = 100;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads only (`GET`, `HEAD`): a write is 403.
    Read,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "read" => Ok(Self::Read),
            "admin" => Ok(Self::Admin),
            other => Err(format!("unknown role `{other}`: use read or admin")),
        }
    }

    pub fn may_write(self) -> bool {
        self == Self::Admin
    }
}

/// SHA-256 of a key's full text. A key is 256 random bits, so a plain
/// digest cannot be reversed or guessed; a slow password hash would cost
/// every request for nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyDigest(pub [u8; 32]);

impl KeyDigest {
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// Compares in time independent of where the digests differ.
    pub fn matches(&self, other: &KeyDigest) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyDigest(..)")
    }
}

/// A freshly generated key: shown to its creator once, then only its
/// digest is kept.
pub struct NewSecret(String);

impl NewSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).expect("the operating system's random source");
        Self(format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> KeyDigest {
        KeyDigest::of(&self.0)
    }
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewSecret(..)")
    }
}

/// The digest of a presented key, if it has the shape of one of ours.
/// Anything else cannot be a key, and is turned away without a lookup.
pub fn presented_digest(token: &str) -> Option<KeyDigest> {
    let secret = token.strip_prefix(KEY_PREFIX)?;
    let shaped = secret.len() == SECRET_CHARS
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    shaped.then(|| KeyDigest::of(token))
}

/// A key's label for people: at most 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyName(String);

impl KeyName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        Ok(Self(plain_text(raw, KEY_NAME_MAX_CHARS)?.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// Kept to within about a minute (see `app::access`).
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An unrevoked key, as the request path needs it.
#[derive(Debug, Clone)]
pub struct ActiveKey {
    pub id: i64,
    pub role: Role,
    pub digest: KeyDigest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_prefixed_random_and_accepted() {
        let a = NewSecret::generate();
        let b = NewSecret::generate();
        assert!(a.expose().starts_with(KEY_PREFIX));
        assert_eq!(a.expose().len(), KEY_PREFIX.len() + SECRET_CHARS);
        assert_ne!(a.expose(), b.expose());
        assert!(presented_digest(a.expose()).is_some_and(|d| d.matches(&a.digest())));
        assert!(!a.digest().matches(&b.digest()));
    }

    #[test]
    fn tokens_not_shaped_like_keys_are_refused_without_a_digest() {
        let key = NewSecret::generate();
        let text = key.expose();
        for bad in [
            "",
            "orderly_",
            &text[..text.len() - 1],
            &format!("{text}x"),
            &text.replace(KEY_PREFIX, "other___"),
            &format!("{}!", &text[..text.len() - 1]),
        ] {
            assert!(presented_digest(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn roles_and_names_parse() {
        assert_eq!(Role::parse("read"), Ok(Role::Read));
        assert!(Role::parse("Admin").is_err());
        assert!(!Role::Read.may_write() && Role::Admin.may_write());
        assert!(KeyName::parse(&"n".repeat(101)).is_err());
        assert!(KeyName::parse("a\u{7}b").is_err());
        assert_eq!(KeyName::parse(" ci ").unwrap().as_str(), "ci");
    }
}
