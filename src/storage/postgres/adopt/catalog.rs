//! What the current schema holds, read from PostgreSQL's catalog: the data
//! tables' columns, constraints, indexes and triggers, and the schema's
//! other tables.

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::GenericClient;

use super::super::migrations::DATA_TABLES;

#[derive(Debug, Clone)]
pub struct Column {
    pub table: String,
    pub name: String,
    /// `pg_type.typname`: `int4`, `varchar`, `timestamptz`, ...
    pub type_name: String,
    /// The declared length of a `varchar(n)` or `char(n)`.
    pub length: Option<usize>,
    /// As `\d` shows it: `character varying(255)`.
    pub shown: String,
    pub not_null: bool,
    pub default: Option<String>,
    pub identity: bool,
    pub generated: bool,
}

#[derive(Debug, Clone)]
pub struct Constraint {
    pub table: String,
    pub name: String,
    /// `p`rimary, `u`nique, `f`oreign, `c`heck, e`x`clusion.
    pub kind: char,
    pub definition: String,
    pub validated: bool,
    pub columns: Vec<String>,
    /// For a foreign key: the table it references, and what deleting a
    /// referenced row does (`a` no action, `r` restrict, `c` cascade, ...).
    pub references: Option<String>,
    pub on_delete: char,
}

#[derive(Debug, Clone)]
pub struct Index {
    pub table: String,
    pub name: String,
    pub unique: bool,
    pub valid: bool,
    /// Made by a primary key or unique constraint.
    pub of_constraint: bool,
    pub definition: String,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub columns: Vec<Column>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<Index>,
    /// (table, trigger) for the triggers a user made.
    pub triggers: Vec<(String, String)>,
    /// Every other table of the schema.
    pub other_tables: Vec<String>,
    /// Foreign keys from other tables into the data tables.
    pub references_in: Vec<Constraint>,
}

const COLUMNS: &str = "SELECT c.relname::text, a.attname::text, t.typname::text,
        CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 END,
        format_type(a.atttypid, a.atttypmod), a.attnotnull,
        pg_get_expr(d.adbin, d.adrelid), a.attidentity <> '', a.attgenerated <> ''
    FROM pg_class c
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
      AND c.relname = ANY($1)
    ORDER BY c.relname, a.attnum";

/// `$2`: true for the constraints on the data tables, false for the
/// foreign keys of other tables that reference them.
const CONSTRAINTS: &str = "SELECT cl.relname::text, con.conname::text, con.contype::text,
        pg_get_constraintdef(con.oid), con.convalidated,
        ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
              JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o),
        ref.relname::text, con.confdeltype::text
    FROM pg_constraint con
    JOIN pg_class cl ON cl.oid = con.conrelid
    LEFT JOIN pg_class ref ON ref.oid = con.confrelid
    WHERE cl.relnamespace = current_schema()::regnamespace
      AND CASE WHEN $2 THEN cl.relname = ANY($1)
               ELSE con.contype = 'f' AND ref.relname = ANY($1) AND cl.relname <> ALL($1)
                    AND ref.relnamespace = cl.relnamespace END
    ORDER BY cl.relname, con.conname";

const INDEXES: &str = "SELECT t.relname::text, i.relname::text, x.indisunique, x.indisvalid,
        EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = x.indexrelid AND contype IN ('p', 'u')),
        pg_get_indexdef(x.indexrelid)
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1)
    ORDER BY t.relname, i.relname";

const TRIGGERS: &str = "SELECT c.relname::text, t.tgname::text FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace
      AND c.relname = ANY($1)
    ORDER BY 1, 2";

const OTHER_TABLES: &str = "SELECT relname::text FROM pg_class
    WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p')
      AND relname <> ALL($1)
    ORDER BY 1";

impl Catalog {
    pub async fn read(db: &impl GenericClient) -> anyhow::Result<Self> {
        let names: &[&str] = &DATA_TABLES;
        let tables = || -> (&(dyn ToSql + Sync), Type) { (&names, Type::TEXT_ARRAY) };
        let columns = db.query_typed(COLUMNS, &[tables()]).await?;
        let mut catalog = Catalog {
            columns: columns
                .iter()
                .map(|r| Column {
                    table: r.get(0),
                    name: r.get(1),
                    type_name: r.get(2),
                    length: r.get::<_, Option<i32>>(3).map(|n| n as usize),
                    shown: r.get(4),
                    not_null: r.get(5),
                    default: r.get(6),
                    identity: r.get(7),
                    generated: r.get(8),
                })
                .collect(),
            ..Catalog::default()
        };
        for own in [true, false] {
            let rows = db
                .query_typed(CONSTRAINTS, &[tables(), (&own, Type::BOOL)])
                .await?;
            let read = rows.iter().map(|r| Constraint {
                table: r.get(0),
                name: r.get(1),
                kind: first_char(r.get(2)),
                definition: r.get(3),
                validated: r.get(4),
                columns: r.get(5),
                references: r.get(6),
                on_delete: first_char(r.get(7)),
            });
            match own {
                true => catalog.constraints = read.collect(),
                false => catalog.references_in = read.collect(),
            }
        }
        catalog.indexes = db
            .query_typed(INDEXES, &[tables()])
            .await?
            .iter()
            .map(|r| Index {
                table: r.get(0),
                name: r.get(1),
                unique: r.get(2),
                valid: r.get(3),
                of_constraint: r.get(4),
                definition: r.get(5),
            })
            .collect();
        catalog.triggers = db
            .query_typed(TRIGGERS, &[tables()])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        catalog.other_tables = db
            .query_typed(OTHER_TABLES, &[tables()])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        Ok(catalog)
    }

    pub fn has_table(&self, table: &str) -> bool {
        self.columns.iter().any(|c| c.table == table)
    }

    pub fn column(&self, table: &str, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.table == table && c.name == name)
    }

    pub fn constraint(&self, name: &str) -> Option<&Constraint> {
        self.constraints.iter().find(|c| c.name == name)
    }

    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name == name)
    }
}

fn first_char(text: Option<String>) -> char {
    text.and_then(|t| t.chars().next()).unwrap_or(' ')
}
