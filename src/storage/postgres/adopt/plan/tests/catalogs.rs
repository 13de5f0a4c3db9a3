//! Catalogs built in code, as `Catalog::read` would find them: the
//! schema orderly's own migrations leave, the legacy FastAPI service's
//! (`tests/legacy/schema.sql`), and the pieces to vary them with.

use crate::storage::postgres::adopt::catalog::{Catalog, Column, Constraint, Index};
use crate::storage::postgres::adopt::needs;

/// A NOT NULL column without a default; `spec` is `typname` or
/// `typname(length)`.
pub fn col(table: &str, name: &str, spec: &str) -> Column {
    let (type_name, length) = match spec.split_once('(') {
        Some((t, n)) => (t, n.trim_end_matches(')').parse().ok()),
        None => (spec, None),
    };
    let shown = match type_name {
        "int2" => "smallint".to_owned(),
        "int4" => "integer".to_owned(),
        "int8" => "bigint".to_owned(),
        "varchar" => format!("character varying({})", length.unwrap_or(0)),
        "timestamptz" => "timestamp with time zone".to_owned(),
        "timestamp" => "timestamp without time zone".to_owned(),
        other => other.to_owned(),
    };
    Column {
        table: table.into(),
        name: name.into(),
        type_name: type_name.into(),
        length,
        shown,
        not_null: true,
        default: None,
        identity: false,
        generated: false,
    }
}

pub fn defaulted(column: Column, expr: &str) -> Column {
    Column {
        default: Some(expr.into()),
        ..column
    }
}

pub fn identity(column: Column) -> Column {
    Column {
        identity: true,
        ..column
    }
}

pub fn constraint(table: &str, name: &str, kind: char, columns: &[&str], def: &str) -> Constraint {
    Constraint {
        table: table.into(),
        name: name.into(),
        kind,
        definition: def.into(),
        validated: true,
        columns: columns.iter().map(|c| c.to_string()).collect(),
        references: None,
        on_delete: ' ',
    }
}

pub fn primary_key(table: &str, name: &str, columns: &[&str]) -> Constraint {
    let def = format!("PRIMARY KEY ({})", columns.join(", "));
    constraint(table, name, 'p', columns, &def)
}

pub fn foreign_key(
    table: &str,
    name: &str,
    column: &str,
    references: &str,
    on_delete: char,
) -> Constraint {
    let def = format!("FOREIGN KEY ({column}) REFERENCES {references}(id)");
    Constraint {
        references: Some(references.into()),
        on_delete,
        ..constraint(table, name, 'f', &[column], &def)
    }
}

pub fn check(table: &str, name: &str, expr: &str) -> Constraint {
    constraint(table, name, 'c', &[], &format!("CHECK (({expr}))"))
}

pub fn index(table: &str, name: &str, unique: bool, of_constraint: bool) -> Index {
    Index {
        table: table.into(),
        name: name.into(),
        unique,
        valid: true,
        of_constraint,
        definition: format!("CREATE INDEX {name} ON public.{table} USING btree (...)"),
    }
}

/// The timestamps, which both schemas give the same type and default.
pub fn timestamps() -> Vec<Column> {
    let mut columns = Vec::new();
    for table in ["users", "orders"] {
        for name in ["created_at", "updated_at"] {
            columns.push(defaulted(col(table, name, "timestamptz"), "now()"));
        }
    }
    columns
}

/// What orderly's own migrations leave: everything fits.
pub fn fitting() -> Catalog {
    let mut catalog = Catalog {
        columns: vec![
            identity(col("users", "id", "int8")),
            col("users", "email", "text"),
            col("users", "name", "text"),
            identity(col("orders", "id", "int8")),
            col("orders", "user_id", "int8"),
            col("orders", "total", "int8"),
            defaulted(col("orders", "status", "text"), "'pending'::text"),
            defaulted(col("orders", "currency", "text"), "'USD'::text"),
            col("order_items", "order_id", "int8"),
            col("order_items", "line", "int4"),
            col("order_items", "sku", "text"),
            col("order_items", "quantity", "int4"),
            col("order_items", "unit_price", "int8"),
        ],
        constraints: vec![
            primary_key("users", "users_pk", &["id"]),
            primary_key("orders", "orders_pk", &["id"]),
            primary_key("order_items", "order_items_pk", &["order_id", "line"]),
            foreign_key("orders", "orders_user_fk", "user_id", "users", 'a'),
            foreign_key(
                "order_items",
                "order_items_order_fk",
                "order_id",
                "orders",
                'c',
            ),
        ],
        indexes: vec![
            index("users", "users_pk", true, true),
            index("orders", "orders_pk", true, true),
            index("order_items", "order_items_pk", true, true),
            index("users", "users_email_lower_key", true, false),
            index("orders", "orders_user_id_id_idx", false, false),
            index("orders", "orders_status_id_idx", false, false),
        ],
        other_tables: vec!["orderly_migrations".into(), "orderly_api_keys".into()],
        ..Catalog::default()
    };
    catalog.columns.extend(timestamps());
    for need in needs::CHECKS {
        catalog
            .constraints
            .push(check(need.table, need.name, need.expr));
    }
    catalog
}

/// `tests/legacy/schema.sql`: serial ids, varchar columns, a case-sensitive
/// unique e-mail, PostgreSQL's default names, no checks and none of
/// orderly's indexes.
pub fn legacy() -> Catalog {
    let serial = |table: &str| {
        let seq = format!("nextval('{table}_id_seq'::regclass)");
        defaulted(col(table, "id", "int4"), &seq)
    };
    let mut catalog = Catalog {
        columns: vec![
            serial("users"),
            col("users", "email", "varchar(255)"),
            col("users", "name", "varchar(255)"),
            serial("orders"),
            col("orders", "user_id", "int4"),
            col("orders", "total", "int8"),
            defaulted(
                col("orders", "status", "varchar(20)"),
                "'pending'::character varying",
            ),
            defaulted(
                col("orders", "currency", "varchar(3)"),
                "'USD'::character varying",
            ),
            col("order_items", "order_id", "int4"),
            col("order_items", "line", "int2"),
            col("order_items", "sku", "varchar(64)"),
            col("order_items", "quantity", "int4"),
            col("order_items", "unit_price", "int8"),
        ],
        constraints: vec![
            primary_key("users", "users_pkey", &["id"]),
            constraint(
                "users",
                "users_email_key",
                'u',
                &["email"],
                "UNIQUE (email)",
            ),
            primary_key("orders", "orders_pkey", &["id"]),
            foreign_key("orders", "orders_user_id_fkey", "user_id", "users", 'a'),
            primary_key("order_items", "order_items_pkey", &["order_id", "line"]),
            foreign_key(
                "order_items",
                "order_items_order_id_fkey",
                "order_id",
                "orders",
                'c',
            ),
        ],
        indexes: vec![
            index("users", "users_pkey", true, true),
            index("users", "users_email_key", true, true),
            index("orders", "orders_pkey", true, true),
            index("orders", "orders_user_id_idx", false, false),
            index("order_items", "order_items_pkey", true, true),
        ],
        other_tables: vec!["idempotency_keys".into(), "schema_migrations".into()],
        ..Catalog::default()
    };
    catalog.columns.extend(timestamps());
    catalog
}

pub fn column_mut<'a>(catalog: &'a mut Catalog, table: &str, name: &str) -> &'a mut Column {
    let found = catalog
        .columns
        .iter_mut()
        .find(|c| c.table == table && c.name == name);
    found.unwrap_or_else(|| panic!("no column {table}.{name}"))
}

pub fn constraint_mut<'a>(catalog: &'a mut Catalog, name: &str) -> &'a mut Constraint {
    let found = catalog.constraints.iter_mut().find(|c| c.name == name);
    found.unwrap_or_else(|| panic!("no constraint {name}"))
}
