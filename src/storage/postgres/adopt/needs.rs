//! What orderly needs of the tables it adopts: the columns it reads and
//! writes, with the types it can read them as, and the constraints and
//! indexes it relies on, under the names its own migrations give them.

use crate::domain::order::SKU_MAX_CHARS;
use crate::domain::user::{EMAIL_MAX_CHARS, NAME_MAX_CHARS};

/// The column types orderly accepts for a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An id: `bigint`, or `integer` (`serial`), read as 64 bits.
    Id,
    /// `bigint` only: the values can exceed 32 bits.
    BigInt,
    /// `integer` only.
    Integer,
    /// Any integer width: only compared and ordered, never read back.
    AnyInt,
    /// `text`, or `varchar`/`char` holding at least this many characters.
    Text(usize),
    /// `timestamptz`: a `timestamp` without time zone has no single
    /// meaning (the writer's session time zone), so it is not read as one.
    Timestamptz,
}

impl Kind {
    pub fn accepts(self, type_name: &str, length: Option<usize>) -> bool {
        match self {
            Kind::Id => matches!(type_name, "int4" | "int8"),
            Kind::BigInt => type_name == "int8",
            Kind::Integer => type_name == "int4",
            Kind::AnyInt => matches!(type_name, "int2" | "int4" | "int8"),
            Kind::Text(min) => match type_name {
                "text" => true,
                "varchar" | "bpchar" => length.is_none_or(|n| n >= min),
                _ => false,
            },
            Kind::Timestamptz => type_name == "timestamptz",
        }
    }

    pub fn describe(self) -> String {
        match self {
            Kind::Id => "bigint or integer".into(),
            Kind::BigInt => "bigint".into(),
            Kind::Integer => "integer".into(),
            Kind::AnyInt => "an integer".into(),
            Kind::Text(min) => format!("text, or varchar of at least {min}"),
            Kind::Timestamptz => "timestamp with time zone".into(),
        }
    }
}

/// What a column needs by default, when orderly's inserts leave it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    /// orderly always writes it.
    None,
    /// Ids come from the database: an identity or a sequence.
    Generated,
    /// Any default will do; this one is added when there is none.
    Any(&'static str),
    /// This value exactly (`INSERT INTO orders (user_id, total)` makes a
    /// pending order in USD); added when there is none.
    Exactly(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct ColumnNeed {
    pub table: &'static str,
    pub column: &'static str,
    pub kind: Kind,
    pub default: Default,
}

const fn col(
    table: &'static str,
    column: &'static str,
    kind: Kind,
    default: Default,
) -> ColumnNeed {
    ColumnNeed {
        table,
        column,
        kind,
        default,
    }
}

const NOW: Default = Default::Any("now()");

pub const COLUMNS: &[ColumnNeed] = &[
    col("users", "id", Kind::Id, Default::Generated),
    col("users", "email", Kind::Text(EMAIL_MAX_CHARS), Default::None),
    col("users", "name", Kind::Text(NAME_MAX_CHARS), Default::None),
    col("users", "created_at", Kind::Timestamptz, NOW),
    col("users", "updated_at", Kind::Timestamptz, NOW),
    col("orders", "id", Kind::Id, Default::Generated),
    col("orders", "user_id", Kind::Id, Default::None),
    col("orders", "total", Kind::BigInt, Default::None),
    col(
        "orders",
        "status",
        Kind::Text(9),
        Default::Exactly("'pending'"),
    ),
    col(
        "orders",
        "currency",
        Kind::Text(3),
        Default::Exactly("'USD'"),
    ),
    col("orders", "created_at", Kind::Timestamptz, NOW),
    col("orders", "updated_at", Kind::Timestamptz, NOW),
    col("order_items", "order_id", Kind::Id, Default::None),
    col("order_items", "line", Kind::AnyInt, Default::None),
    col(
        "order_items",
        "sku",
        Kind::Text(SKU_MAX_CHARS),
        Default::None,
    ),
    col("order_items", "quantity", Kind::Integer, Default::None),
    col("order_items", "unit_price", Kind::BigInt, Default::None),
];

/// The primary keys, by their columns.
pub const PRIMARY_KEYS: &[(&str, &[&str])] = &[
    ("users", &["id"]),
    ("orders", &["id"]),
    ("order_items", &["order_id", "line"]),
];

/// The name of the check that keeps NULL out of a column declared
/// nullable, which orderly adds rather than `SET NOT NULL` (that scans the
/// table under a lock that blocks the old service).
pub fn not_null_check(table: &str, column: &str) -> String {
    format!("{table}_{column}_not_null")
}

/// A check orderly's migrations make, by name.
#[derive(Debug, Clone, Copy)]
pub struct CheckNeed {
    pub table: &'static str,
    pub name: &'static str,
    pub expr: &'static str,
    /// The rows that break it, for the data report.
    pub breaking: &'static str,
}

pub const CHECKS: &[CheckNeed] = &[
    CheckNeed {
        table: "orders",
        name: "orders_total_nonnegative",
        expr: "total >= 0",
        breaking: "orders with a negative total",
    },
    CheckNeed {
        table: "orders",
        name: "orders_status_known",
        expr: "status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')",
        breaking: "orders with a status outside pending, paid, shipped, delivered, cancelled",
    },
    CheckNeed {
        table: "orders",
        name: "orders_currency_code",
        expr: "currency ~ '^[A-Z]{3}$'",
        breaking: "orders whose currency is not three capital letters",
    },
    CheckNeed {
        table: "order_items",
        name: "order_items_line_nonnegative",
        expr: "line >= 0",
        breaking: "order items with a negative line number",
    },
    CheckNeed {
        table: "order_items",
        name: "order_items_quantity_range",
        expr: "quantity BETWEEN 1 AND 10000",
        breaking: "order items whose quantity is outside 1 to 10000",
    },
    CheckNeed {
        table: "order_items",
        name: "order_items_unit_price_range",
        expr: "unit_price BETWEEN 0 AND 100000000",
        breaking: "order items whose unit price is outside 0 to 100000000",
    },
];

/// A foreign key orderly relies on.
#[derive(Debug, Clone, Copy)]
pub struct ForeignKeyNeed {
    pub table: &'static str,
    pub column: &'static str,
    pub references: &'static str,
    /// Its name when orderly adds it, then the other names it may have:
    /// PostgreSQL's default for the same key.
    pub names: &'static [&'static str],
    /// Whether orderly answers a violation of it by its name (then only
    /// `names` will do); else any name is fine.
    pub named: bool,
    /// What it adds when there is none.
    pub add: &'static str,
    /// Whether deleting the referenced row may delete these with it.
    pub may_cascade: bool,
}

pub const FOREIGN_KEYS: &[ForeignKeyNeed] = &[
    ForeignKeyNeed {
        table: "orders",
        column: "user_id",
        references: "users",
        names: &["orders_user_fk", "orders_user_id_fkey"],
        named: true,
        add: "ALTER TABLE orders ADD CONSTRAINT orders_user_fk \
              FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID",
        may_cascade: false,
    },
    ForeignKeyNeed {
        table: "order_items",
        column: "order_id",
        references: "orders",
        names: &["order_items_order_fk", "order_items_order_id_fkey"],
        named: false,
        add: "ALTER TABLE order_items ADD CONSTRAINT order_items_order_fk \
              FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE NOT VALID",
        may_cascade: true,
    },
];

/// An index orderly's queries rely on.
#[derive(Debug, Clone, Copy)]
pub struct IndexNeed {
    pub table: &'static str,
    pub name: &'static str,
    pub create: &'static str,
    pub why: &'static str,
}

pub const INDEXES: &[IndexNeed] = &[
    IndexNeed {
        table: "users",
        name: "users_email_lower_key",
        create: "CREATE UNIQUE INDEX CONCURRENTLY users_email_lower_key ON users (lower(email))",
        why: "one user per e-mail address in any letter case",
    },
    IndexNeed {
        table: "orders",
        name: "orders_user_id_id_idx",
        create: "CREATE INDEX CONCURRENTLY orders_user_id_id_idx ON orders (user_id, id)",
        why: "a user's orders, page by page",
    },
    IndexNeed {
        table: "orders",
        name: "orders_status_id_idx",
        create: "CREATE INDEX CONCURRENTLY orders_status_id_idx ON orders (status, id)",
        why: "orders by status, page by page",
    },
];

/// The unique constraints and indexes whose violations orderly knows how
/// to answer, beyond the primary keys.
pub const KNOWN_UNIQUE: &[&str] = &["users_email_lower_key", "users_email_key"];

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn ids_may_be_serial_but_money_must_be_bigint() {
        assert!(Kind::Id.accepts("int4", None) && Kind::Id.accepts("int8", None));
        assert!(!Kind::Id.accepts("numeric", None));
        assert!(Kind::BigInt.accepts("int8", None) && !Kind::BigInt.accepts("int4", None));
    }

    #[test]
    fn text_may_be_varchar_only_as_long_as_orderly_accepts() {
        let email = Kind::Text(254);
        assert!(email.accepts("text", None));
        assert!(email.accepts("varchar", Some(255)) && email.accepts("varchar", None));
        assert!(!email.accepts("varchar", Some(100)));
        assert!(Kind::Text(3).accepts("bpchar", Some(3)));
    }

    #[test]
    fn timestamps_must_carry_their_zone() {
        assert!(Kind::Timestamptz.accepts("timestamptz", None));
        assert!(!Kind::Timestamptz.accepts("timestamp", None));
    }
}
