//! Orders: line items, money, currency, and the status machine.

use chrono::{DateTime, Utc};

use super::{char_len, Version};

pub const MAX_ITEMS: usize = 100;
pub const SKU_MAX_CHARS: usize = 64;
pub const QUANTITY_MAX: i64 = 10_000;
pub const UNIT_PRICE_MAX: i64 = 100_000_000;

/// A stock-keeping unit: 1 to 64 printable characters, kept as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || char_len(raw) > SKU_MAX_CHARS {
            return Err(format!("must be 1 to {SKU_MAX_CHARS} characters"));
        }
        if raw.chars().any(char::is_control) || raw.trim().is_empty() {
            return Err("must be printable characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many of one SKU: 1 to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i32);

impl Quantity {
    pub fn parse(n: i64) -> Result<Self, String> {
        if (1..=QUANTITY_MAX).contains(&n) {
            Ok(Self(n as i32))
        } else {
            Err(format!("must be an integer from 1 to {QUANTITY_MAX}"))
        }
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// A price per unit in minor units (cents): 0 to 100,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitPrice(i64);

impl UnitPrice {
    pub fn parse(n: i64) -> Result<Self, String> {
        if (0..=UNIT_PRICE_MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(format!(
                "must be an integer from 0 to {UNIT_PRICE_MAX} (minor units)"
            ))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// An ISO 4217 currency code in upper case, e.g. `USD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency(iso_currency::Currency);

impl Default for Currency {
    fn default() -> Self {
        Self(iso_currency::Currency::USD)
    }
}

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, String> {
        // `from_code` would take other letter cases; the contract does not.
        let upper = raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase());
        match iso_currency::Currency::from_code(raw) {
            Some(code) if upper => Ok(Self(code)),
            _ => Err("must be an ISO 4217 currency code in upper case, like USD".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        self.0.code()
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price: UnitPrice,
}

/// A checked order to create: 1 to 100 items and the total they make.
#[derive(Debug, Clone)]
pub struct NewOrder {
    user_id: i64,
    currency: Currency,
    items: Vec<LineItem>,
    total: i64,
}

impl NewOrder {
    pub fn new(user_id: i64, currency: Currency, items: Vec<LineItem>) -> Result<Self, String> {
        if items.is_empty() || items.len() > MAX_ITEMS {
            return Err(format!("must hold 1 to {MAX_ITEMS} items"));
        }
        let total = items
            .iter()
            .try_fold(0_i64, |sum, item| {
                i64::from(item.quantity.get())
                    .checked_mul(item.unit_price.get())
                    .and_then(|line| sum.checked_add(line))
            })
            .ok_or_else(|| "the order total is too large".to_string())?;
        Ok(Self {
            user_id,
            currency,
            items,
            total,
        })
    }

    pub fn user_id(&self) -> i64 {
        self.user_id
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn items(&self) -> &[LineItem] {
        &self.items
    }

    pub fn total(&self) -> i64 {
        self.total
    }
}

/// Where an order is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    /// A value a row may hold that orderly never writes: an adopted
    /// database's own state. Shown as stored; no move from or to it is
    /// legal. Requests never parse into it (`parse`).
    Unrecognised(Box<str>),
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl OrderStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Paid,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::Paid => "paid",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Unrecognised(stored) => stored,
        }
    }

    /// A row's status, whatever it holds.
    pub fn stored(raw: String) -> Self {
        Self::parse(&raw).unwrap_or_else(|_| Self::Unrecognised(raw.into_boxed_str()))
    }

    /// One of the five statuses a request may name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| "must be one of pending, paid, shipped, delivered, cancelled".into())
    }

    /// pending → paid → shipped → delivered; pending or paid → cancelled.
    /// Staying in place is not a move.
    pub fn can_move_to(&self, next: &Self) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Pending, Paid) | (Paid, Shipped) | (Shipped, Delivered) | (Pending | Paid, Cancelled)
        )
    }
}

/// An order as stored, with its items in line order. Rows may have been
/// written by plain SQL, so the item fields are kept as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub status: OrderStatus,
    pub currency: String,
    pub items: Vec<StoredItem>,
    pub total: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    pub sku: String,
    pub quantity: i64,
    pub unit_price: i64,
}

impl Order {
    pub fn version(&self) -> Version {
        Version::of(self.updated_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    fn item(quantity: i64, unit_price: i64) -> LineItem {
        LineItem {
            sku: Sku::parse("BOOK-1").unwrap(),
            quantity: Quantity::parse(quantity).unwrap(),
            unit_price: UnitPrice::parse(unit_price).unwrap(),
        }
    }

    #[test]
    fn the_total_is_the_sum_of_quantity_times_unit_price() {
        let order =
            NewOrder::new(1, Currency::default(), vec![item(2, 1250), item(1, 99)]).unwrap();
        assert_eq!(order.total(), 2599);
        let biggest = NewOrder::new(
            1,
            Currency::default(),
            vec![item(QUANTITY_MAX, UNIT_PRICE_MAX); MAX_ITEMS],
        )
        .unwrap();
        assert_eq!(biggest.total(), 100 * QUANTITY_MAX * UNIT_PRICE_MAX);
    }

    #[test]
    fn an_order_holds_one_to_a_hundred_items() {
        assert!(NewOrder::new(1, Currency::default(), vec![]).is_err());
        assert!(NewOrder::new(1, Currency::default(), vec![item(1, 1); 101]).is_err());
    }

    #[test]
    fn bounds_of_each_field() {
        assert!(Quantity::parse(0).is_err() && Quantity::parse(10_001).is_err());
        assert!(UnitPrice::parse(-1).is_err() && UnitPrice::parse(100_000_001).is_err());
        assert!(UnitPrice::parse(0).is_ok());
        assert!(
            Sku::parse("").is_err()
                && Sku::parse(&"x".repeat(65)).is_err()
                && Sku::parse("A\u{0}").is_err()
        );
        assert!(Sku::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn currencies_are_known_upper_case_iso_codes() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        for bad in ["usd", "Usd", "XXXX", "ZZZ", "", "US"] {
            assert!(Currency::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn only_the_documented_moves_are_allowed() {
        let allowed = [
            (Pending, Paid),
            (Paid, Shipped),
            (Shipped, Delivered),
            (Pending, Cancelled),
            (Paid, Cancelled),
        ];
        let legacy = OrderStatus::stored("on_hold".into());
        for from in OrderStatus::ALL.into_iter().chain([legacy.clone()]) {
            for to in OrderStatus::ALL.into_iter().chain([legacy.clone()]) {
                assert_eq!(
                    from.can_move_to(&to),
                    allowed.contains(&(from.clone(), to.clone())),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[test]
    fn a_stored_status_orderly_never_writes_is_kept_as_it_is_and_never_parsed_from_a_request() {
        assert_eq!(OrderStatus::stored("paid".into()), Paid);
        let legacy = OrderStatus::stored("on_hold".into());
        assert_eq!(legacy, OrderStatus::Unrecognised("on_hold".into()));
        assert_eq!(legacy.as_str(), "on_hold");
        assert!(OrderStatus::parse("on_hold").is_err());
    }
}
