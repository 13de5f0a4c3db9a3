//! Keyset pagination: a page size and an opaque cursor.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use super::digits::parse_digits;

pub const DEFAULT_LIMIT: u16 = 50;
pub const MAX_LIMIT: u16 = 200;

/// Rows per page, 1 to 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u16);

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

impl Limit {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match parse_digits::<u16>(raw) {
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(Self(n)),
            _ => Err(format!("`limit` must be an integer from 1 to {MAX_LIMIT}")),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// Resumes a listing strictly after the row with this id. Encoded so that
/// clients treat it as opaque and we stay free to change what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub after_id: i64,
}

impl Cursor {
    const PREFIX: &'static str = "id:";

    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}{}", Self::PREFIX, self.after_id))
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        let invalid = || "`after` is not a cursor this service issued".to_string();
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
        let id = text.strip_prefix(Self::PREFIX).ok_or_else(invalid)?;
        parse_digits(id)
            .map(|after_id| Self { after_id })
            .ok_or_else(invalid)
    }
}

/// Where a page starts and how long it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageRequest {
    pub after: Option<Cursor>,
    pub limit: Limit,
}

impl PageRequest {
    pub fn after_id(&self) -> i64 {
        self.after.map_or(0, |c| c.after_id)
    }

    /// One row more than the page, so that `next_cursor` is null exactly when
    /// nothing follows.
    pub fn fetch_len(&self) -> i64 {
        i64::from(self.limit.get()) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_one_to_two_hundred_are_rejected() {
        for bad in ["0", "-1", "201", "abc", "1.5", "+5", "", "65536"] {
            assert!(Limit::parse(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(Limit::parse("1").unwrap().get(), 1);
        assert_eq!(Limit::parse("200").unwrap().get(), 200);
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let c = Cursor { after_id: 42 };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        for bad in [
            "",
            "42",
            "!!!",
            &URL_SAFE_NO_PAD.encode("id:-3"),
            &URL_SAFE_NO_PAD.encode("x:1"),
        ] {
            assert!(Cursor::decode(bad).is_err(), "accepted {bad:?}");
        }
    }
}
