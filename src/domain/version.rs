//! Versions of a row, as `ETag`s name them, and `If-Match` preconditions.

use chrono::{DateTime, Utc};

use super::digits::parse_digits;

/// What an `ETag` names: the row's `updated_at` in microseconds. Storage makes
/// every write move `updated_at` forward by at least one microsecond, so two
/// states of a row never share a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version(pub i64);

impl Version {
    pub fn of(updated_at: DateTime<Utc>) -> Self {
        Self(updated_at.timestamp_micros())
    }

    pub fn timestamp(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or_default()
    }

    /// The strong entity tag, quotes included.
    pub fn etag(self) -> String {
        format!("\"v{}\"", self.0)
    }

    /// Reads one entity tag back; anything we did not issue is `None`.
    pub fn from_etag(tag: &str) -> Option<Self> {
        let inner = tag.trim().strip_prefix("\"v")?.strip_suffix('"')?;
        parse_digits(inner).map(Self)
    }
}

/// An `If-Match` precondition: a write applies only if the row's current
/// version is one of these (an empty list never matches).
#[derive(Debug, Clone, Default)]
pub enum Precondition {
    #[default]
    None,
    AnyOf(Vec<Version>),
}

impl Precondition {
    pub fn allows(&self, current: Version) -> bool {
        match self {
            Self::None => true,
            Self::AnyOf(versions) => versions.contains(&current),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip_and_foreign_tags_do_not_parse() {
        let v = Version(1_764_000_000_123_456);
        assert_eq!(Version::from_etag(&v.etag()), Some(v));
        for foreign in [
            "*", "\"abc\"", "W/\"v1\"", "\"v\"", "v12", "\"v-1\"", "\"v+1\"",
        ] {
            assert_eq!(Version::from_etag(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn a_precondition_allows_only_the_versions_it_names() {
        let (a, b) = (Version(1), Version(2));
        assert!(Precondition::None.allows(a));
        assert!(Precondition::AnyOf(vec![a]).allows(a));
        assert!(!Precondition::AnyOf(vec![a]).allows(b));
        assert!(!Precondition::AnyOf(vec![]).allows(a));
    }
}
