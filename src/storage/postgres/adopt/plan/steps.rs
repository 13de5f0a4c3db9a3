//! The statements that carry out the findings, each with the lock it takes
//! and what drops it again. Every name spliced into them goes through
//! `ident`: some come from the adopted catalog.

use std::fmt;

use super::super::ident::ident;
use super::super::needs::not_null_check;
use super::findings::Finding;
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

/// orderly's own tables, in their present shape.
const BOOKKEEPING: &str = include_str!("../bookkeeping.sql");

/// The events' and webhooks' tables: the migration that makes them, which
/// is written to run here too.
const EVENTS: &str = include_str!("../../migrations/0006_events_and_webhooks.sql");

/// The steps, in the order they run: orderly's own tables, then every
/// addition, then every validation (the slow part, under a lock that lets
/// the old service go on), then the migration history.
pub fn of(findings: &[Finding]) -> Vec<Step> {
    let mut steps = vec![Step {
        what: "create orderly's own tables orderly_idempotency_keys and orderly_api_keys".into(),
        sql: BOOKKEEPING.into(),
        lock: Lock::None,
        undo: Some("DROP TABLE orderly_idempotency_keys, orderly_api_keys".into()),
    }];
    steps.push(Step {
        what: "create orderly's event and webhook tables orderly_events, orderly_webhook_endpoints and orderly_webhook_deliveries".into(),
        sql: EVENTS.into(),
        lock: Lock::None,
        undo: Some(
            "DROP TABLE orderly_webhook_deliveries, orderly_webhook_endpoints, orderly_events"
                .into(),
        ),
    });
    steps.extend(findings.iter().flat_map(additions));
    steps.extend(findings.iter().filter_map(validation));
    steps.push(baseline());
    steps
}

/// What a finding adds to the schema, before any validation.
fn additions(finding: &Finding) -> Vec<Step> {
    match finding {
        Finding::MissingDefault {
            table,
            column,
            value,
        } => {
            let alter = format!(
                "ALTER TABLE {} ALTER COLUMN {}",
                ident(table),
                ident(column)
            );
            vec![Step {
                what: format!(
                    "give {table}.{column} the default {value}, which orderly's inserts rely on"
                ),
                sql: format!("{alter} SET DEFAULT {value}"),
                lock: Lock::Brief("ACCESS EXCLUSIVE"),
                undo: Some(format!("{alter} DROP DEFAULT")),
            }]
        }
        Finding::MissingNotNull { table, column } => {
            let check = not_null_check(table, column);
            vec![Step {
                what: format!("check that {table}.{column} is never NULL ({check})"),
                sql: add_check(table, &check, &format!("{} IS NOT NULL", ident(column))),
                lock: Lock::Brief("ACCESS EXCLUSIVE"),
                undo: Some(drop_constraint(table, &check)),
            }]
        }
        Finding::IndexToBuild { need, left_invalid } => {
            let drop = format!("DROP INDEX CONCURRENTLY {}", ident(need.name));
            let mut steps = Vec::new();
            if *left_invalid {
                steps.push(Step {
                    what: format!(
                        "drop {}, left invalid by a build that did not finish",
                        need.name
                    ),
                    sql: drop.clone(),
                    lock: Lock::Weak,
                    undo: None,
                });
            }
            steps.push(Step {
                what: format!("build index {} concurrently: {}", need.name, need.why),
                sql: need.create.into(),
                lock: Lock::Weak,
                undo: Some(drop),
            });
            steps
        }
        Finding::ForeignKeyToAdd(need) => vec![Step {
            what: format!(
                "add foreign key {}: {}.{} references {}",
                need.names[0], need.table, need.column, need.references
            ),
            sql: need.add.into(),
            lock: Lock::Brief("SHARE ROW EXCLUSIVE"),
            undo: Some(drop_constraint(need.table, need.names[0])),
        }],
        Finding::CheckToAdd(need) => vec![Step {
            what: format!("add check {} ({})", need.name, need.expr),
            sql: add_check(need.table, need.name, need.expr),
            lock: Lock::Brief("ACCESS EXCLUSIVE"),
            undo: Some(drop_constraint(need.table, need.name)),
        }],
        Finding::Fits(_) | Finding::Unvalidated { .. } | Finding::Kept(_) | Finding::Blocker(_) => {
            Vec::new()
        }
    }
}

/// The validation a finding needs: a constraint added NOT VALID, or found
/// so, is checked against the rows already there.
fn validation(finding: &Finding) -> Option<Step> {
    let (table, constraint) = match finding {
        Finding::MissingNotNull { table, column } => (*table, not_null_check(table, column)),
        Finding::ForeignKeyToAdd(need) => (need.table, need.names[0].to_owned()),
        Finding::CheckToAdd(need) => (need.table, need.name.to_owned()),
        Finding::Unvalidated { table, constraint } => (*table, constraint.clone()),
        _ => return None,
    };
    Some(Step {
        what: format!("validate {constraint} against the rows already there"),
        sql: format!(
            "ALTER TABLE {} VALIDATE CONSTRAINT {}",
            ident(table),
            ident(&constraint)
        ),
        lock: Lock::Weak,
        undo: None,
    })
}

/// `expr` is SQL orderly wrote, its names quoted already.
fn add_check(table: &str, name: &str, expr: &str) -> String {
    format!(
        "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({expr}) NOT VALID",
        ident(table),
        ident(name)
    )
}

fn drop_constraint(table: &str, name: &str) -> String {
    format!(
        "ALTER TABLE {} DROP CONSTRAINT {}",
        ident(table),
        ident(name)
    )
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
