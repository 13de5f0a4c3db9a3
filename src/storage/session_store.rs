//! Where each caller's last write position is kept for every instance, so
//! that read-your-writes holds through any instance behind a load
//! balancer (GitLab's pattern): a narrow trait, as every store is, and its
//! one implementation on Redis (`redis`).
//!
//! A store that does not answer in time, or answers something unreadable,
//! is [`Unanswered`]: the caller then reads from the primary, which is
//! never behind, and never from a floor it made up. Failures are counted
//! here; `/metrics` copies the counts at scrape time
//! (`orderly_session_store_failures_total{op}`).

use async_trait::async_trait;

use super::LogPosition;

mod redis;

pub use self::redis::RedisSessionStore;

/// The store's one failure: no answer in time, an error, or a value that
/// is not a position. The caller falls back; the cause is logged by the
/// store.
#[derive(Debug)]
pub struct Unanswered;

/// Calls that failed so far, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStoreFailures {
    /// Reads of a caller's position: each went to the primary instead.
    pub reads: u64,
    /// Raises of a caller's position: each was kept by its instance only.
    pub writes: u64,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The position `caller` last wrote at, through any instance; 0 if
    /// none is kept.
    async fn floor(&self, caller: i64) -> Result<LogPosition, Unanswered>;

    /// Raises `caller`'s kept position to `to` (never lowers it).
    async fn raise(&self, caller: i64, to: LogPosition) -> Result<(), Unanswered>;

    /// The failures counted so far.
    fn failures(&self) -> SessionStoreFailures;
}

/// A kept position as the stores write it: 16 hex digits. Anything else
/// is unreadable, not 0: a floor of 0 would let a read go to a replica
/// that has not replayed the caller's write.
pub fn read_position(kept: Option<&str>) -> Result<LogPosition, Unreadable> {
    match kept {
        None => Ok(LogPosition(0)),
        Some(hex) if hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(hex, 16)
                .map(LogPosition)
                .map_err(|_| Unreadable)
        }
        Some(_) => Err(Unreadable),
    }
}

/// A kept value that is not a position.
#[derive(Debug, PartialEq, Eq)]
pub struct Unreadable;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sixteen_hex_digits_are_a_position_and_nothing_kept_is_zero() {
        assert_eq!(read_position(None), Ok(LogPosition(0)));
        assert_eq!(
            read_position(Some("000000000300a1b8")),
            Ok(LogPosition(0x300a1b8))
        );
        for unreadable in [
            "",
            "garbage",
            "300a1b8",
            "000000000300a1bx",
            "-00000000300a1b8",
            "+00000000300a1b8",
            "0000000000300a1b8",
        ] {
            assert_eq!(
                read_position(Some(unreadable)),
                Err(Unreadable),
                "{unreadable:?}"
            );
        }
    }
}
