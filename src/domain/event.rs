//! Events: what changed, as the services around orderly learn of it (the
//! feed, webhooks). Each is written in its change's own transaction.

use chrono::{DateTime, Utc};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use super::digits::parse_digits;
use super::{Order, OrderStatus, User};

/// The kinds of change an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    UserCreated,
    UserUpdated,
    UserDeleted,
    OrderCreated,
    OrderStatusChanged,
}

impl EventType {
    pub const ALL: [Self; 5] = [
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserDeleted,
        Self::OrderCreated,
        Self::OrderStatusChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserDeleted => "user.deleted",
            Self::OrderCreated => "order.created",
            Self::OrderStatusChanged => "order.status_changed",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw.trim())
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|t| t.as_str()).collect();
                format!("unknown event type `{raw}`; one of: {}", known.join(", "))
            })
    }

    /// A comma-separated list (`order.created,order.status_changed`), at
    /// least one, each once, in a stable order.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, String> {
        let mut types = raw
            .split(',')
            .map(Self::parse)
            .collect::<Result<Vec<_>, _>>()?;
        types.sort();
        types.dedup();
        Ok(types)
    }
}

/// What an event carries: the resource as the API shows it after the
/// change (a deleted user as it was), and for a status move, the status
/// it left.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    User(User),
    Order(Order),
    OrderMoved { order: Order, previous: OrderStatus },
}

/// An event's public id, `evt_` and 32 hex digits: unique across restores
/// and databases (74 of its bits are random), so receivers may deduplicate
/// on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId(pub uuid::Uuid);

impl EventId {
    const PREFIX: &'static str = "evt_";

    /// A new id: a UUIDv7, its first 48 bits the time and the rest random,
    /// so that ids written one after the other land side by side in the
    /// index (a random v4 touched a random index page per write, which cost
    /// SQLite's single writer about a third of its writes a second).
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.strip_prefix(Self::PREFIX)
            .filter(|hex| hex.len() == 32)
            .and_then(|hex| uuid::Uuid::try_parse(hex).ok())
            .map(Self)
            .ok_or_else(|| format!("`{raw}` is not an event id (`evt_` and 32 hex digits)"))
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.0.simple())
    }
}

/// Where an event sits in the feed: the writing transaction's id (on
/// PostgreSQL; 0 on SQLite, whose one writer commits in `seq` order) and
/// its sequence number. The feed is ordered by this pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    pub xid: i64,
    pub seq: i64,
}

impl FeedPosition {
    const PREFIX: &'static str = "ev:";

    /// Opaque to clients, like the lists' cursors.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}{}.{}", Self::PREFIX, self.xid, self.seq))
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        let invalid = || "`after` is not an event cursor this service issued".to_string();
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
        let (xid, seq) = text
            .strip_prefix(Self::PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .ok_or_else(invalid)?;
        match (parse_digits(xid), parse_digits(seq)) {
            (Some(xid), Some(seq)) => Ok(Self { xid, seq }),
            _ => Err(invalid()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub kind: EventType,
    pub created_at: DateTime<Utc>,
    pub change: Change,
    pub position: FeedPosition,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_from_their_names_and_lists_are_sorted_and_deduplicated() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Ok(t));
        }
        assert!(EventType::parse("order.paid").is_err());
        assert_eq!(
            EventType::parse_list("order.status_changed, user.created,order.status_changed"),
            Ok(vec![EventType::UserCreated, EventType::OrderStatusChanged])
        );
        assert!(EventType::parse_list("").is_err());
    }

    #[test]
    fn ids_and_positions_round_trip_and_garbage_is_rejected() {
        let id = EventId::generate();
        assert_eq!(EventId::parse(&id.to_string()), Ok(id));
        for bad in [
            "",
            "evt_",
            "evt_xyz",
            "usr_0123456789abcdef0123456789abcdef",
        ] {
            assert!(EventId::parse(bad).is_err(), "accepted {bad:?}");
        }
        let at = FeedPosition { xid: 7, seq: 42 };
        assert_eq!(FeedPosition::decode(&at.encode()), Ok(at));
        for bad in [
            "",
            "42",
            &URL_SAFE_NO_PAD.encode("ev:1"),
            &URL_SAFE_NO_PAD.encode("ev:-1.2"),
            &URL_SAFE_NO_PAD.encode("id:4"),
        ] {
            assert!(FeedPosition::decode(bad).is_err(), "accepted {bad:?}");
        }
    }
}
