//! A statement's parameter with the PostgreSQL type it is sent as, taken
//! from its Rust type: what lets a statement run unprepared
//! (`--pg-prepared-statements=false`, behind a transaction pooler), where
//! the server is told the types up front instead of describing them to a
//! prepare.

use chrono::{DateTime, Utc};
use tokio_postgres::types::{ToSql, Type};

/// A value a statement takes.
pub trait Param: ToSql + Sync {
    /// The PostgreSQL type it is sent as.
    fn pg_type(&self) -> Type;
    fn as_sql(&self) -> &(dyn ToSql + Sync);
}

/// A Rust type's PostgreSQL type.
pub trait PgTyped {
    const TYPE: Type;
}

impl<T: PgTyped + ToSql + Sync> Param for T {
    fn pg_type(&self) -> Type {
        T::TYPE
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        self
    }
}

impl<T: PgTyped> PgTyped for Option<T> {
    const TYPE: Type = T::TYPE;
}

macro_rules! pg_typed {
    ($($rust:ty => $pg:ident),* $(,)?) => {
        $(impl PgTyped for $rust {
            const TYPE: Type = Type::$pg;
        })*
    };
}

pg_typed! {
    bool => BOOL,
    i16 => INT2,
    i32 => INT4,
    i64 => INT8,
    &str => TEXT,
    String => TEXT,
    &[u8] => BYTEA,
    Vec<u8> => BYTEA,
    DateTime<Utc> => TIMESTAMPTZ,
    Vec<i16> => INT2_ARRAY,
    Vec<i32> => INT4_ARRAY,
    Vec<i64> => INT8_ARRAY,
    Vec<&str> => TEXT_ARRAY,
    Vec<String> => TEXT_ARRAY,
    Vec<DateTime<Utc>> => TIMESTAMPTZ_ARRAY,
}
