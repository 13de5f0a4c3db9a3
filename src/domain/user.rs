//! Users: `Email`, `UserName`, and what a create or an update carries.

use chrono::{DateTime, Utc};

use super::{char_len, plain_text, Version};

pub const EMAIL_MAX_CHARS: usize = 254;
pub const NAME_MAX_CHARS: usize = 200;

/// A trimmed, plausible e-mail address (`local@domain.tld`), at most 254
/// characters. Kept as given; uniqueness is case-insensitive in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim();
        if email.is_empty() {
            return Err("must not be empty".into());
        }
        if char_len(email) > EMAIL_MAX_CHARS {
            return Err(format!("must be at most {EMAIL_MAX_CHARS} characters"));
        }
        if email.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must not contain spaces or control characters".into());
        }
        let plausible = email_address::EmailAddress::is_valid(email)
            && email
                .rsplit_once('@')
                .is_some_and(|(_, domain)| has_inner_dot(domain));
        if !plausible {
            return Err("must be an e-mail address like name@example.com".into());
        }
        Ok(Self(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn has_inner_dot(domain: &str) -> bool {
    domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
}

/// A trimmed display name: 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("must not be empty".into());
        }
        Ok(Self(plain_text(raw, NAME_MAX_CHARS)?.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: UserName,
}

/// A partial update; the HTTP layer guarantees at least one field is set.
#[derive(Debug, Clone)]
pub struct UserPatch {
    pub email: Option<Email>,
    pub name: Option<UserName>,
}

/// A user as stored. Rows may have been written by plain SQL, so the text
/// fields are kept as they are rather than re-validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    pub fn version(&self) -> Version {
        Version::of(self.updated_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_kept_as_given() {
        assert_eq!(
            Email::parse("  Ada@Example.com ").unwrap().as_str(),
            "Ada@Example.com"
        );
    }

    #[test]
    fn implausible_emails_are_rejected() {
        for bad in [
            "",
            "   ",
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "ada@example.",
            "a da@example.com",
            "ada@exa\0mple.com",
            "ada@@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn emails_over_254_characters_are_rejected() {
        let local = "a".repeat(64);
        // Labels stay within DNS's 63 characters.
        let domain = format!(
            "{}.{}.{}.com",
            "b".repeat(61),
            "c".repeat(61),
            "d".repeat(62)
        );
        let ok = format!("{local}@{domain}");
        assert_eq!(ok.len(), 255);
        assert!(Email::parse(&ok).is_err());
        assert!(Email::parse(&ok[1..]).is_ok());
    }

    #[test]
    fn names_are_one_to_two_hundred_characters_without_controls() {
        assert_eq!(UserName::parse(" Ada ").unwrap().as_str(), "Ada");
        assert!(UserName::parse("").is_err());
        assert!(UserName::parse(" \t ").is_err());
        assert!(UserName::parse(&"é".repeat(200)).is_ok());
        assert!(UserName::parse(&"é".repeat(201)).is_err());
        assert!(UserName::parse("Ada\u{0}").is_err());
        assert!(UserName::parse("A\nda").is_err());
    }
}
