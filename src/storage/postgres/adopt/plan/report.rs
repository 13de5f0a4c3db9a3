//! The plan as printed: what fits, the steps, what is left as it is, what
//! stops the adoption, and the roll-back. Names are shown as they are,
//! except in SQL the reader is told to run, where they are quoted.

use std::fmt;

use super::super::ident::ident;
use super::super::needs::Kind;
use super::findings::{Blocker, Fit, Kept, NotNull, Supplied};
use super::Plan;

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        section(f, "Fits orderly as it is", self.fits())?;
        section(
            f,
            "orderly will add, in this order",
            self.steps
                .iter()
                .map(|s| format!("{} [{}]", s.what, s.lock)),
        )?;
        section(f, "Left as it is", self.kept())?;
        section(f, "Cannot adopt", self.blockers())?;
        section(
            f,
            "To roll back, drop only what orderly added (the old tables and rows are untouched)",
            self.steps.iter().rev().filter_map(|s| s.undo.as_ref()),
        )
    }
}

fn section<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    lines: impl Iterator<Item = T>,
) -> fmt::Result {
    let mut lines = lines.peekable();
    writeln!(f, "{title}:")?;
    if lines.peek().is_none() {
        writeln!(f, "  (nothing)")?;
    }
    for line in lines {
        writeln!(f, "  - {line}")?;
    }
    writeln!(f)
}

impl fmt::Display for Fit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fit::Column {
                table,
                column,
                shown,
                read_as_bigint,
                default,
                not_null,
            } => {
                write!(f, "{table}.{column} {shown}")?;
                if *read_as_bigint {
                    f.write_str(" (read as bigint; ids stay below 2^31)")?;
                }
                match default {
                    Supplied::Identity => f.write_str(", identity")?,
                    Supplied::Default(d) => write!(f, ", default {d}")?,
                    Supplied::Nothing => {}
                }
                match not_null {
                    NotNull::Declared => f.write_str(", NOT NULL"),
                    NotNull::Check(check) => write!(f, ", not null by {check}"),
                    NotNull::NotYet => Ok(()),
                }
            }
            Fit::PrimaryKey {
                table,
                name,
                columns,
            } => write!(f, "primary key {name} on {table} ({})", columns.join(", ")),
            Fit::Index(need) => write!(f, "index {} ({})", need.name, need.why),
            Fit::ForeignKey { name, definition } => write!(f, "foreign key {name} ({definition})"),
            Fit::Check { name, definition } => write!(f, "check {name} ({definition})"),
        }
    }
}

impl fmt::Display for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kept::Column {
                table,
                column,
                shown,
            } => write!(
                f,
                "column {table}.{column} ({shown}): orderly leaves it out; rows it writes get its default"
            ),
            Kept::CaseSensitiveEmailKey => f.write_str(
                "unique constraint users_email_key (case-sensitive): kept; orderly's \
                 users_email_lower_key is stricter, and a violation of either is a 409",
            ),
            Kept::Check {
                table,
                name,
                definition,
            } => write!(
                f,
                "check {name} on {table} ({definition}): orderly's writes must pass it too; one it refuses is a 500"
            ),
            Kept::Index { table, name } => write!(f, "index {name} on {table}"),
            Kept::Trigger { table, name } => {
                write!(f, "trigger {name} on {table}: it runs on orderly's writes too")
            }
            Kept::ReferenceIn {
                table,
                name,
                definition,
            } => write!(
                f,
                "foreign key {name} from {table} ({definition}): a delete through orderly that it refuses is a 500"
            ),
            Kept::Table(table) => write!(f, "table {table}: not orderly's; never read or written"),
        }
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::MissingTable(table) => write!(
                f,
                "table {table} is missing: orderly adopts users, orders and order_items together"
            ),
            Blocker::MissingColumn { table, column } => {
                write!(f, "{table}.{column} is missing: orderly reads and writes it")
            }
            Blocker::WrongType {
                need,
                type_name,
                shown,
            } => wrong_type(f, need.table, need.column, need.kind, type_name, shown),
            Blocker::NotGenerated { table, column } => write!(
                f,
                "{table}.{column} has no identity or sequence default: orderly lets the database choose ids"
            ),
            Blocker::WrongDefault {
                table,
                column,
                found,
                expected,
            } => write!(
                f,
                "{table}.{column} defaults to {found}; the contract's `INSERT INTO orders (user_id, total)` makes {expected}"
            ),
            Blocker::NotNullWithoutDefault { table, column } => write!(
                f,
                "{table}.{column} is NOT NULL with no default: orderly's inserts leave it out. \
                 Give it a default, or allow NULL"
            ),
            Blocker::PrimaryKey { table, columns } => write!(
                f,
                "{table} needs its primary key on ({}): orderly finds and orders rows by it",
                columns.join(", ")
            ),
            Blocker::ForeignKeyName { need, name } => write!(
                f,
                "foreign key {name} on {} ({}): orderly answers its violations only under \
                 the names {}; rename it (catalog only): ALTER TABLE {} RENAME CONSTRAINT {} TO {}",
                need.table,
                need.column,
                need.names.join(" or "),
                ident(need.table),
                ident(name),
                ident(need.names[0])
            ),
            Blocker::ForeignKeyCascades {
                need,
                name,
                definition,
            } => write!(
                f,
                "foreign key {name} ({definition}) changes {} when a row of {} is deleted; \
                 orderly refuses to delete a user who has orders (409) and expects the database to refuse too",
                need.table, need.references
            ),
            Blocker::UnknownUnique { name, definition } => write!(
                f,
                "unique index {name} ({definition}): orderly cannot answer a write it refuses (it would be a 500); \
                 drop it, or tell us what it guards"
            ),
        }
    }
}

fn wrong_type(
    f: &mut fmt::Formatter<'_>,
    table: &str,
    column: &str,
    kind: Kind,
    type_name: &str,
    shown: &str,
) -> fmt::Result {
    write!(
        f,
        "{table}.{column} is {shown}; orderly needs {}",
        kind.describe()
    )?;
    match kind {
        Kind::Text(min) if matches!(type_name, "varchar" | "bpchar") => write!(
            f,
            ". Widening it changes only the catalog: ALTER TABLE {} ALTER COLUMN {} TYPE varchar({min})",
            ident(table),
            ident(column)
        ),
        Kind::Timestamptz if type_name == "timestamp" => f.write_str(
            ": a timestamp without time zone means whatever zone its writer assumed. Converting it \
             rewrites the table (ALTER ... TYPE timestamptz USING ... AT TIME ZONE '<the zone it was written in>'): \
             a maintenance window's work",
        ),
        _ => f.write_str(": changing it rewrites the table, which adoption never does"),
    }
}
