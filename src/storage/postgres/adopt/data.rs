//! The rows that break a rule orderly enforces, found before adoption
//! changes anything: reported with their ids, never fixed silently. Every
//! name spliced into a query goes through `ident`, as in the plan's steps.

use tokio_postgres::GenericClient;

use super::catalog::Catalog;
use super::ident::ident;
use super::needs::{self, not_null_check};

/// How many ids a problem lists.
const SHOWN: i32 = 10;

/// One kind of broken row: how many, and the first ids.
#[derive(Debug)]
pub struct Problem {
    pub what: String,
    pub count: i64,
    pub ids: Vec<String>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} (ids: {}",
            self.what,
            self.count,
            self.ids.join(", ")
        )?;
        if self.count > self.ids.len() as i64 {
            write!(f, " and {} more", self.count - self.ids.len() as i64)?;
        }
        f.write_str(")")
    }
}

/// A rule as a query: the rows of `table` that break it.
struct Rule {
    what: String,
    table: &'static str,
    /// A condition in SQL, its names quoted already.
    breaks: String,
}

/// How a row of `table` is named in a report, and the order of the names.
fn ids_of(table: &str) -> (&'static str, &'static str) {
    match table {
        "order_items" => (
            "format('order %s line %s', order_id, line)",
            "order_id, line",
        ),
        _ => ("id::text", "id"),
    }
}

/// Every rule the schema does not already guarantee: a constraint orderly
/// will add or validate checks rows that may break it.
fn rules(catalog: &Catalog) -> Vec<Rule> {
    let guaranteed = |name: &str| catalog.constraint(name).is_some_and(|c| c.validated);
    let mut rules = Vec::new();
    for need in needs::COLUMNS {
        let nullable = catalog
            .column(need.table, need.column)
            .is_some_and(|c| !c.not_null);
        if nullable && !guaranteed(&not_null_check(need.table, need.column)) {
            rules.push(Rule {
                what: format!("{} rows with no {}", need.table, need.column),
                table: need.table,
                breaks: format!("{} IS NULL", ident(need.column)),
            });
        }
    }
    for need in needs::CHECKS {
        if !guaranteed(need.name) {
            rules.push(Rule {
                what: need.breaking.into(),
                table: need.table,
                breaks: format!("NOT ({})", need.expr),
            });
        }
    }
    for need in needs::FOREIGN_KEYS {
        let held = catalog.constraints.iter().any(|c| {
            c.kind == 'f'
                && c.validated
                && c.table == need.table
                && c.columns == [need.column]
                && c.references.as_deref() == Some(need.references)
        });
        if !held {
            rules.push(Rule {
                what: format!("{} whose {} does not exist", need.table, need.column),
                table: need.table,
                breaks: format!(
                    "{col} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {r} WHERE {r}.id = {t}.{col})",
                    col = ident(need.column),
                    r = ident(need.references),
                    t = ident(need.table)
                ),
            });
        }
    }
    rules
}

/// Addresses that are one in orderly's eyes (any letter case), held by
/// several users: `ids` lists each group's ids.
const SHARED_EMAILS: &str = "WITH groups AS (
        SELECT lower(email) AS address, string_agg(id::text, ' and ' ORDER BY id) AS ids, min(id) AS first
        FROM users GROUP BY lower(email) HAVING count(*) > 1)
    SELECT count(*), coalesce((array_agg(format('%s (%s)', ids, address) ORDER BY first))[1:$1], '{}')
    FROM groups";

/// Orders whose total is not the sum of their items (orders without items
/// are the contract's own: `INSERT INTO orders (user_id, total)`).
const WRONG_TOTALS: &str = "WITH sums AS (
        SELECT order_id, sum(quantity::numeric * unit_price) AS sum FROM order_items GROUP BY order_id)
    SELECT count(*), coalesce((array_agg(format('%s (total %s, items %s)', o.id, o.total, s.sum)
                                          ORDER BY o.id))[1:$1], '{}')
    FROM orders o JOIN sums s ON s.order_id = o.id WHERE o.total <> s.sum";

pub async fn problems(db: &impl GenericClient, catalog: &Catalog) -> anyhow::Result<Vec<Problem>> {
    let mut found = Vec::new();
    let unique_emails = catalog
        .index("users_email_lower_key")
        .is_some_and(|i| i.valid);
    if !unique_emails {
        found.push(
            problem(
                db,
                SHARED_EMAILS,
                "e-mail addresses held by several users in different letter cases",
            )
            .await?,
        );
    }
    found.push(
        problem(
            db,
            WRONG_TOTALS,
            "orders whose total is not the sum of their items",
        )
        .await?,
    );
    for rule in rules(catalog) {
        let (ids, order) = ids_of(rule.table);
        let sql = format!(
            "SELECT count(*), coalesce((array_agg({ids} ORDER BY {order}))[1:$1], '{{}}') FROM {table} WHERE {breaks}",
            table = ident(rule.table),
            breaks = rule.breaks
        );
        found.push(problem(db, &sql, &rule.what).await?);
    }
    found.retain(|p| p.count > 0);
    Ok(found)
}

async fn problem(db: &impl GenericClient, sql: &str, what: &str) -> anyhow::Result<Problem> {
    let row = db
        .query_typed(sql, &[(&SHOWN, tokio_postgres::types::Type::INT4)])
        .await?;
    Ok(Problem {
        what: what.into(),
        count: row[0].get(0),
        ids: row[0].get(1),
    })
}
