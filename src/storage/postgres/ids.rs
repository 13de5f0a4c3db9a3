//! Id columns read whatever their integer width: orderly's own schema has
//! `bigint` ids, a schema adopted from another service (`orderly migrate
//! --adopt`) often `serial`, that is `integer`, ones.

use std::error::Error;

use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::Row;

/// The id in column `idx` of `row`.
pub(super) fn id(row: &Row, idx: usize) -> i64 {
    row.get::<_, AnyInt>(idx).0
}

struct AnyInt(i64);

impl<'a> FromSql<'a> for AnyInt {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Self(match *ty {
            Type::INT4 => i32::from_sql(ty, raw)?.into(),
            _ => i64::from_sql(ty, raw)?,
        }))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT4 | Type::INT8)
    }
}
