//! Comparing the catalog with orderly's needs: every need and every object
//! of the schema becomes findings, in the order the report lists them.

use super::super::catalog::Catalog;
use super::super::needs::{self, not_null_check, ColumnNeed, Default, Kind};
use super::findings::{Blocker, Finding, Fit, Kept, NotNull, Supplied};
use crate::storage::postgres::migrations::DATA_TABLES;

/// orderly's own tables, which adoption makes beside the old service's.
const OWN_TABLES: [&str; 6] = [
    "orderly_idempotency_keys",
    "orderly_api_keys",
    "orderly_migrations",
    "orderly_events",
    "orderly_webhook_endpoints",
    "orderly_webhook_deliveries",
];

pub fn findings(catalog: &Catalog) -> Vec<Finding> {
    let mut found = Vec::new();
    for table in DATA_TABLES {
        if !catalog.has_table(table) {
            found.push(Finding::Blocker(Blocker::MissingTable(table)));
        }
    }
    for need in needs::COLUMNS {
        column(catalog, need, &mut found);
    }
    other_columns(catalog, &mut found);
    primary_keys(catalog, &mut found);
    indexes(catalog, &mut found);
    foreign_keys(catalog, &mut found);
    checks(catalog, &mut found);
    unknown_unique(catalog, &mut found);
    left_as_they_are(catalog, &mut found);
    found
}

fn column(catalog: &Catalog, need: &'static ColumnNeed, found: &mut Vec<Finding>) {
    let (table, name) = (need.table, need.column);
    let Some(column) = catalog.column(table, name) else {
        // A missing table is reported once, not once per column.
        if catalog.has_table(table) {
            found.push(Finding::Blocker(Blocker::MissingColumn {
                table,
                column: name,
            }));
        }
        return;
    };
    if !need.kind.accepts(&column.type_name, column.length) {
        found.push(Finding::Blocker(Blocker::WrongType {
            need,
            type_name: column.type_name.clone(),
            shown: column.shown.clone(),
        }));
        return;
    }
    let mut supplied = Supplied::Nothing;
    match (need.default, &column.default) {
        (Default::Generated, _) if column.identity => supplied = Supplied::Identity,
        (Default::Generated, Some(d)) if d.starts_with("nextval(") => {
            supplied = Supplied::Default(d.clone())
        }
        (Default::Generated, _) => found.push(Finding::Blocker(Blocker::NotGenerated {
            table,
            column: name,
        })),
        (Default::Any(value) | Default::Exactly(value), None) => {
            found.push(Finding::MissingDefault {
                table,
                column: name,
                value,
            })
        }
        // pg_get_expr shows `'pending'::character varying`.
        (Default::Exactly(value), Some(d)) if !d.starts_with(value) => {
            found.push(Finding::Blocker(Blocker::WrongDefault {
                table,
                column: name,
                found: d.clone(),
                expected: value,
            }))
        }
        (_, Some(d)) => supplied = Supplied::Default(d.clone()),
        (Default::None, None) => {}
    }
    let not_null = if column.not_null {
        NotNull::Declared
    } else {
        let check = not_null_check(table, name);
        match catalog.constraint(&check) {
            Some(c) if c.validated => NotNull::Check(check),
            Some(_) => {
                found.push(Finding::Unvalidated {
                    table,
                    constraint: check,
                });
                NotNull::NotYet
            }
            None => {
                found.push(Finding::MissingNotNull {
                    table,
                    column: name,
                });
                NotNull::NotYet
            }
        }
    };
    found.push(Finding::Fits(Fit::Column {
        table,
        column: name,
        shown: column.shown.clone(),
        read_as_bigint: need.kind == Kind::Id && column.type_name == "int4",
        default: supplied,
        not_null,
    }));
}

/// Columns orderly does not know: left alone, unless its inserts would
/// break them.
fn other_columns(catalog: &Catalog, found: &mut Vec<Finding>) {
    for column in &catalog.columns {
        let known = needs::COLUMNS
            .iter()
            .any(|n| n.table == column.table && n.column == column.name);
        if known {
            continue;
        }
        let fillable =
            !column.not_null || column.default.is_some() || column.identity || column.generated;
        found.push(match fillable {
            true => Finding::Kept(Kept::Column {
                table: column.table.clone(),
                column: column.name.clone(),
                shown: column.shown.clone(),
            }),
            false => Finding::Blocker(Blocker::NotNullWithoutDefault {
                table: column.table.clone(),
                column: column.name.clone(),
            }),
        });
    }
}

fn primary_keys(catalog: &Catalog, found: &mut Vec<Finding>) {
    for &(table, columns) in needs::PRIMARY_KEYS {
        if !catalog.has_table(table) {
            continue;
        }
        let pk = catalog
            .constraints
            .iter()
            .find(|c| c.table == table && c.kind == 'p');
        found.push(match pk {
            Some(pk) if pk.columns == columns => Finding::Fits(Fit::PrimaryKey {
                table,
                name: pk.name.clone(),
                columns,
            }),
            _ => Finding::Blocker(Blocker::PrimaryKey { table, columns }),
        });
    }
}

fn indexes(catalog: &Catalog, found: &mut Vec<Finding>) {
    for need in needs::INDEXES {
        if !catalog.has_table(need.table) {
            continue;
        }
        found.push(match catalog.index(need.name) {
            Some(index) if index.valid => Finding::Fits(Fit::Index(need)),
            there => Finding::IndexToBuild {
                need,
                left_invalid: there.is_some(),
            },
        });
    }
}

fn foreign_keys(catalog: &Catalog, found: &mut Vec<Finding>) {
    for need in needs::FOREIGN_KEYS {
        if !catalog.has_table(need.table) || !catalog.has_table(need.references) {
            continue;
        }
        let fk = catalog.constraints.iter().find(|c| {
            c.kind == 'f'
                && c.table == need.table
                && c.columns == [need.column]
                && c.references.as_deref() == Some(need.references)
        });
        let Some(fk) = fk else {
            found.push(Finding::ForeignKeyToAdd(need));
            continue;
        };
        if need.named && !need.names.contains(&fk.name.as_str()) {
            found.push(Finding::Blocker(Blocker::ForeignKeyName {
                need,
                name: fk.name.clone(),
            }));
        }
        // Cascade, set null, set default.
        if !need.may_cascade && matches!(fk.on_delete, 'c' | 'n' | 'd') {
            found.push(Finding::Blocker(Blocker::ForeignKeyCascades {
                need,
                name: fk.name.clone(),
                definition: fk.definition.clone(),
            }));
        }
        found.push(match fk.validated {
            true => Finding::Fits(Fit::ForeignKey {
                name: fk.name.clone(),
                definition: fk.definition.clone(),
            }),
            false => Finding::Unvalidated {
                table: need.table,
                constraint: fk.name.clone(),
            },
        });
    }
}

fn checks(catalog: &Catalog, found: &mut Vec<Finding>) {
    for need in needs::CHECKS {
        if !catalog.has_table(need.table) {
            continue;
        }
        found.push(match catalog.constraint(need.name) {
            Some(c) if c.validated => Finding::Fits(Fit::Check {
                name: c.name.clone(),
                definition: c.definition.clone(),
            }),
            Some(c) => Finding::Unvalidated {
                table: need.table,
                constraint: c.name.clone(),
            },
            None => Finding::CheckToAdd(need),
        });
    }
}

/// A unique index orderly does not know would refuse some of its writes
/// with a violation it cannot answer (a 500).
fn unknown_unique(catalog: &Catalog, found: &mut Vec<Finding>) {
    for index in catalog.indexes.iter().filter(|i| i.unique) {
        let primary = catalog
            .constraint(&index.name)
            .is_some_and(|c| c.kind == 'p');
        if primary || needs::KNOWN_UNIQUE.contains(&index.name.as_str()) {
            if index.name == "users_email_key" {
                found.push(Finding::Kept(Kept::CaseSensitiveEmailKey));
            }
            continue;
        }
        found.push(Finding::Blocker(Blocker::UnknownUnique {
            name: index.name.clone(),
            definition: index.definition.clone(),
        }));
    }
}

fn left_as_they_are(catalog: &Catalog, found: &mut Vec<Finding>) {
    let ours = |name: &str| {
        needs::CHECKS.iter().any(|c| c.name == name)
            || needs::FOREIGN_KEYS.iter().any(|f| f.names.contains(&name))
            || needs::COLUMNS
                .iter()
                .any(|c| name == not_null_check(c.table, c.column))
    };
    for c in &catalog.constraints {
        if c.kind == 'c' && !ours(&c.name) {
            found.push(Finding::Kept(Kept::Check {
                table: c.table.clone(),
                name: c.name.clone(),
                definition: c.definition.clone(),
            }));
        }
    }
    for index in &catalog.indexes {
        let needed = needs::INDEXES.iter().any(|n| n.name == index.name);
        if !index.unique && !index.of_constraint && !needed {
            found.push(Finding::Kept(Kept::Index {
                table: index.table.clone(),
                name: index.name.clone(),
            }));
        }
    }
    for (table, trigger) in &catalog.triggers {
        found.push(Finding::Kept(Kept::Trigger {
            table: table.clone(),
            name: trigger.clone(),
        }));
    }
    for fk in &catalog.references_in {
        found.push(Finding::Kept(Kept::ReferenceIn {
            table: fk.table.clone(),
            name: fk.name.clone(),
            definition: fk.definition.clone(),
        }));
    }
    for table in &catalog.other_tables {
        if !OWN_TABLES.contains(&table.as_str()) {
            found.push(Finding::Kept(Kept::Table(table.clone())));
        }
    }
}
