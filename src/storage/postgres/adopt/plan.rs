//! The adoption plan: what of the schema fits orderly as it is, what
//! orderly adds (each step safe on a live database), what it leaves as it
//! is, and what stops it.

use std::fmt;

use super::catalog::{Catalog, Column};
use super::needs::{self, ColumnNeed, Default, Kind};
use crate::storage::postgres::migrations::{HISTORY_TABLE, MIGRATIONS, MIGRATION_LOCK};

/// The lock a step takes on the old service's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// None: it only makes orderly's own tables.
    None,
    /// SHARE UPDATE EXCLUSIVE (an index built concurrently, a constraint
    /// validated): the old service's reads and writes go on.
    Weak,
    /// A lock that blocks the old service's writes (or reads too), held
    /// only to change the catalog: taken with a short `lock_timeout` and
    /// retried, so that it never queues long in front of them.
    Brief(&'static str),
}

impl fmt::Display for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lock::None => f.write_str("no lock on the old tables"),
            Lock::Weak => f.write_str("SHARE UPDATE EXCLUSIVE: reads and writes go on"),
            Lock::Brief(mode) => write!(f, "{mode}, catalog only, brief"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub what: String,
    pub sql: String,
    pub lock: Lock,
    /// What drops it again, for the roll-back.
    pub undo: Option<String>,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub fits: Vec<String>,
    pub steps: Vec<Step>,
    pub kept: Vec<String>,
    pub blockers: Vec<String>,
}

/// orderly's own tables, in their present shape.
const BOOKKEEPING: &str = include_str!("bookkeeping.sql");
const OWN_TABLES: [&str; 3] = [
    "orderly_idempotency_keys",
    "orderly_api_keys",
    "orderly_migrations",
];

impl Plan {
    pub fn of(catalog: &Catalog) -> Self {
        let mut plan = Plan::default();
        plan.steps.push(Step {
            what: "create orderly's own tables orderly_idempotency_keys and orderly_api_keys"
                .into(),
            sql: BOOKKEEPING.into(),
            lock: Lock::None,
            undo: Some("DROP TABLE orderly_idempotency_keys, orderly_api_keys".into()),
        });
        for table in crate::storage::postgres::migrations::DATA_TABLES {
            if !catalog.has_table(table) {
                plan.blockers.push(format!(
                    "table {table} is missing: orderly adopts users, orders and order_items together"
                ));
            }
        }
        let mut validations = Vec::new();
        for need in needs::COLUMNS {
            plan.column(catalog, need, &mut validations);
        }
        plan.other_columns(catalog);
        plan.primary_keys(catalog);
        plan.indexes(catalog);
        plan.foreign_keys(catalog, &mut validations);
        plan.checks(catalog, &mut validations);
        plan.unknown_unique(catalog);
        plan.left_as_they_are(catalog);
        plan.steps.extend(validations);
        plan.steps.push(baseline());
        plan
    }

    pub fn adoptable(&self) -> bool {
        self.blockers.is_empty()
    }

    fn column(&mut self, catalog: &Catalog, need: &ColumnNeed, validations: &mut Vec<Step>) {
        let (table, name) = (need.table, need.column);
        let Some(column) = catalog.column(table, name) else {
            if catalog.has_table(table) {
                self.blockers.push(format!(
                    "{table}.{name} is missing: orderly reads and writes it"
                ));
            }
            return;
        };
        if !need.kind.accepts(&column.type_name, column.length) {
            self.blockers.push(wrong_type(need, column));
            return;
        }
        let mut fit = format!("{table}.{name} {}", column.shown);
        if need.kind == Kind::Id && column.type_name == "int4" {
            fit.push_str(" (read as bigint; ids stay below 2^31)");
        }
        match (need.default, &column.default) {
            (Default::Generated, _) if column.identity => fit.push_str(", identity"),
            (Default::Generated, Some(d)) if d.starts_with("nextval(") => {
                fit.push_str(&format!(", default {d}"))
            }
            (Default::Generated, _) => self.blockers.push(format!(
                "{table}.{name} has no identity or sequence default: orderly lets the database choose ids"
            )),
            (Default::Any(value) | Default::Exactly(value), None) => self.steps.push(Step {
                what: format!("give {table}.{name} the default {value}, which orderly's inserts rely on"),
                sql: format!("ALTER TABLE {table} ALTER COLUMN {name} SET DEFAULT {value}"),
                lock: Lock::Brief("ACCESS EXCLUSIVE"),
                undo: Some(format!("ALTER TABLE {table} ALTER COLUMN {name} DROP DEFAULT")),
            }),
            (Default::Exactly(value), Some(d)) if !d.starts_with(value) => {
                self.blockers.push(format!(
                    "{table}.{name} defaults to {d}; the contract's `INSERT INTO orders (user_id, total)` makes {value}"
                ))
            }
            (_, Some(d)) => fit.push_str(&format!(", default {d}")),
            (Default::None, None) => {}
        }
        if column.not_null {
            fit.push_str(", NOT NULL");
        } else {
            let check = format!("{table}_{name}_not_null");
            match catalog.constraint(&check) {
                Some(c) if c.validated => fit.push_str(&format!(", not null by {check}")),
                found => {
                    if found.is_none() {
                        self.steps.push(Step {
                            what: format!("check that {table}.{name} is never NULL ({check})"),
                            sql: format!(
                                "ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({name} IS NOT NULL) NOT VALID"
                            ),
                            lock: Lock::Brief("ACCESS EXCLUSIVE"),
                            undo: Some(format!("ALTER TABLE {table} DROP CONSTRAINT {check}")),
                        });
                    }
                    validations.push(validate(table, &check));
                }
            }
        }
        self.fits.push(fit);
    }

    /// Columns orderly does not know: left alone, unless its inserts
    /// would break them.
    fn other_columns(&mut self, catalog: &Catalog) {
        for column in &catalog.columns {
            let known = needs::COLUMNS
                .iter()
                .any(|n| n.table == column.table && n.column == column.name);
            if known {
                continue;
            }
            let (table, name) = (&column.table, &column.name);
            if column.not_null && column.default.is_none() && !column.identity && !column.generated
            {
                self.blockers.push(format!(
                    "{table}.{name} is NOT NULL with no default: orderly's inserts leave it out. \
                     Give it a default, or allow NULL"
                ));
            } else {
                self.kept.push(format!(
                    "column {table}.{name} ({}): orderly leaves it out; rows it writes get its default",
                    column.shown
                ));
            }
        }
    }

    fn primary_keys(&mut self, catalog: &Catalog) {
        for (table, columns) in needs::PRIMARY_KEYS {
            if !catalog.has_table(table) {
                continue;
            }
            let pk = catalog
                .constraints
                .iter()
                .find(|c| c.table == *table && c.kind == 'p');
            match pk {
                Some(pk) if pk.columns == *columns => self.fits.push(format!(
                    "primary key {} on {table} ({})",
                    pk.name,
                    columns.join(", ")
                )),
                _ => self.blockers.push(format!(
                    "{table} needs its primary key on ({}): orderly finds and orders rows by it",
                    columns.join(", ")
                )),
            }
        }
    }

    fn indexes(&mut self, catalog: &Catalog) {
        for need in needs::INDEXES {
            if !catalog.has_table(need.table) {
                continue;
            }
            match catalog.index(need.name) {
                Some(index) if index.valid => self
                    .fits
                    .push(format!("index {} ({})", need.name, need.why)),
                found => {
                    if found.is_some() {
                        self.steps.push(Step {
                            what: format!(
                                "drop {}, left invalid by a build that did not finish",
                                need.name
                            ),
                            sql: format!("DROP INDEX CONCURRENTLY {}", need.name),
                            lock: Lock::Weak,
                            undo: None,
                        });
                    }
                    self.steps.push(Step {
                        what: format!("build index {} concurrently: {}", need.name, need.why),
                        sql: need.create.into(),
                        lock: Lock::Weak,
                        undo: Some(format!("DROP INDEX CONCURRENTLY {}", need.name)),
                    });
                }
            }
        }
    }

    fn foreign_keys(&mut self, catalog: &Catalog, validations: &mut Vec<Step>) {
        for need in needs::FOREIGN_KEYS {
            if !catalog.has_table(need.table) || !catalog.has_table(need.references) {
                continue;
            }
            let (table, column, references) = (need.table, need.column, need.references);
            let found = catalog.constraints.iter().find(|c| {
                c.kind == 'f'
                    && c.table == table
                    && c.columns == [column]
                    && c.references.as_deref() == Some(references)
            });
            let Some(fk) = found else {
                let name = need.names[0];
                self.steps.push(Step {
                    what: format!(
                        "add foreign key {name}: {table}.{column} references {references}"
                    ),
                    sql: need.add.into(),
                    lock: Lock::Brief("SHARE ROW EXCLUSIVE"),
                    undo: Some(format!("ALTER TABLE {table} DROP CONSTRAINT {name}")),
                });
                validations.push(validate(table, name));
                continue;
            };
            if need.named && !need.names.contains(&fk.name.as_str()) {
                self.blockers.push(format!(
                    "foreign key {} on {table} ({column}): orderly answers its violations only under \
                     the names {}; rename it (catalog only): ALTER TABLE {table} RENAME CONSTRAINT {} TO {}",
                    fk.name,
                    need.names.join(" or "),
                    fk.name,
                    need.names[0]
                ));
            }
            if !need.may_cascade && matches!(fk.on_delete, 'c' | 'n' | 'd') {
                self.blockers.push(format!(
                    "foreign key {} ({}) changes {table} when a row of {references} is deleted; \
                     orderly refuses to delete a user who has orders (409) and expects the database to refuse too",
                    fk.name, fk.definition
                ));
            }
            if fk.validated {
                self.fits
                    .push(format!("foreign key {} ({})", fk.name, fk.definition));
            } else {
                validations.push(validate(table, &fk.name));
            }
        }
    }

    fn checks(&mut self, catalog: &Catalog, validations: &mut Vec<Step>) {
        for need in needs::CHECKS {
            if !catalog.has_table(need.table) {
                continue;
            }
            match catalog.constraint(need.name) {
                Some(c) if c.validated => self
                    .fits
                    .push(format!("check {} ({})", c.name, c.definition)),
                found => {
                    if found.is_none() {
                        self.steps.push(Step {
                            what: format!("add check {} ({})", need.name, need.expr),
                            sql: format!(
                                "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({}) NOT VALID",
                                need.table, need.name, need.expr
                            ),
                            lock: Lock::Brief("ACCESS EXCLUSIVE"),
                            undo: Some(format!(
                                "ALTER TABLE {} DROP CONSTRAINT {}",
                                need.table, need.name
                            )),
                        });
                    }
                    validations.push(validate(need.table, need.name));
                }
            }
        }
    }

    /// A unique index orderly does not know would refuse some of its
    /// writes with a violation it cannot answer (a 500).
    fn unknown_unique(&mut self, catalog: &Catalog) {
        for index in catalog.indexes.iter().filter(|i| i.unique) {
            let primary = catalog
                .constraint(&index.name)
                .is_some_and(|c| c.kind == 'p');
            if primary || needs::KNOWN_UNIQUE.contains(&index.name.as_str()) {
                if index.name == "users_email_key" {
                    self.kept.push(
                        "unique constraint users_email_key (case-sensitive): kept; orderly's \
                         users_email_lower_key is stricter, and a violation of either is a 409"
                            .into(),
                    );
                }
                continue;
            }
            self.blockers.push(format!(
                "unique index {} ({}): orderly cannot answer a write it refuses (it would be a 500); \
                 drop it, or tell us what it guards",
                index.name, index.definition
            ));
        }
    }

    fn left_as_they_are(&mut self, catalog: &Catalog) {
        let ours = |name: &str| {
            needs::CHECKS.iter().any(|c| c.name == name)
                || needs::FOREIGN_KEYS.iter().any(|f| f.names.contains(&name))
                || needs::COLUMNS
                    .iter()
                    .any(|c| name == format!("{}_{}_not_null", c.table, c.column))
        };
        for c in &catalog.constraints {
            if c.kind == 'c' && !ours(&c.name) {
                self.kept.push(format!(
                    "check {} on {} ({}): orderly's writes must pass it too; one it refuses is a 500",
                    c.name, c.table, c.definition
                ));
            }
        }
        for index in catalog
            .indexes
            .iter()
            .filter(|i| !i.unique && !i.of_constraint)
        {
            if !needs::INDEXES.iter().any(|n| n.name == index.name) {
                self.kept
                    .push(format!("index {} on {}", index.name, index.table));
            }
        }
        for (table, trigger) in &catalog.triggers {
            self.kept.push(format!(
                "trigger {trigger} on {table}: it runs on orderly's writes too"
            ));
        }
        for fk in &catalog.references_in {
            self.kept.push(format!(
                "foreign key {} from {} ({}): a delete through orderly that it refuses is a 500",
                fk.name, fk.table, fk.definition
            ));
        }
        for table in &catalog.other_tables {
            if !OWN_TABLES.contains(&table.as_str()) {
                self.kept.push(format!(
                    "table {table}: not orderly's; never read or written"
                ));
            }
        }
    }
}

fn wrong_type(need: &ColumnNeed, column: &Column) -> String {
    let (table, name) = (need.table, need.column);
    let mut why = format!(
        "{table}.{name} is {}; orderly needs {}",
        column.shown,
        need.kind.describe()
    );
    match need.kind {
        Kind::Text(min) if matches!(column.type_name.as_str(), "varchar" | "bpchar") => why.push_str(&format!(
            ". Widening it changes only the catalog: ALTER TABLE {table} ALTER COLUMN {name} TYPE varchar({min})"
        )),
        Kind::Timestamptz if column.type_name == "timestamp" => why.push_str(
            ": a timestamp without time zone means whatever zone its writer assumed. Converting it \
             rewrites the table (ALTER ... TYPE timestamptz USING ... AT TIME ZONE '<the zone it was written in>'): \
             a maintenance window's work",
        ),
        _ => why.push_str(": changing it rewrites the table, which adoption never does"),
    }
    why
}

fn validate(table: &str, constraint: &str) -> Step {
    Step {
        what: format!("validate {constraint} against the rows already there"),
        sql: format!("ALTER TABLE {table} VALIDATE CONSTRAINT {constraint}"),
        lock: Lock::Weak,
        undo: None,
    }
}

/// The history that makes later migrations run as usual: every migration
/// this release has, as applied, since the tables now have their shape.
fn baseline() -> Step {
    let rows: Vec<String> = MIGRATIONS
        .iter()
        .map(|m| format!("({}, '{}')", m.version, m.name))
        .collect();
    Step {
        what: format!(
            "record migrations 1 to {} as applied in orderly_migrations",
            MIGRATIONS.len()
        ),
        sql: format!(
            "BEGIN;
             SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
             {HISTORY_TABLE};
             INSERT INTO orderly_migrations (version, name) VALUES {} ON CONFLICT DO NOTHING;
             COMMIT",
            rows.join(", ")
        ),
        lock: Lock::None,
        undo: Some("DROP TABLE orderly_migrations".into()),
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        section(f, "Fits orderly as it is", self.fits.iter())?;
        section(
            f,
            "orderly will add, in this order",
            self.steps
                .iter()
                .map(|s| format!("{} [{}]", s.what, s.lock)),
        )?;
        section(f, "Left as it is", self.kept.iter())?;
        section(f, "Cannot adopt", self.blockers.iter())?;
        section(
            f,
            "To roll back, drop only what orderly added (the old tables and rows are untouched)",
            self.steps.iter().rev().filter_map(|s| s.undo.as_ref()),
        )
    }
}

pub(super) fn section<T: fmt::Display>(
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
