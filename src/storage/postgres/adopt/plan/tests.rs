//! The planner on catalogs built in code, without a database: the schema
//! orderly's own migrations leave, the legacy FastAPI service's
//! (`tests/legacy/schema.sql`), and variations of it.

mod catalogs;

use super::findings::{Blocker, Finding, Kept};
use super::{Lock, Plan};
use crate::storage::postgres::adopt::needs;
use catalogs::{check, col, column_mut, constraint_mut, fitting, index, legacy};

fn sqls(plan: &Plan) -> Vec<&str> {
    plan.steps.iter().map(|s| s.sql.as_str()).collect()
}

fn blocker_texts(plan: &Plan) -> Vec<String> {
    plan.blockers().map(|b| b.to_string()).collect()
}

#[test]
fn a_schema_that_fits_exactly_needs_only_orderlys_own_tables_and_history() {
    let plan = Plan::of(&fitting());

    assert!(plan.adoptable(), "{plan}");
    let not_fitting: Vec<_> = plan
        .findings
        .iter()
        .filter(|f| !matches!(f, Finding::Fits(_)))
        .collect();
    assert!(not_fitting.is_empty(), "{not_fitting:?}");
    let whats: Vec<_> = plan.steps.iter().map(|s| s.what.as_str()).collect();
    assert_eq!(whats.len(), 3, "{whats:?}");
    assert!(
        whats[0].starts_with("create orderly's own tables"),
        "{whats:?}"
    );
    assert!(
        whats[1].starts_with("create orderly's event and webhook tables"),
        "{whats:?}"
    );
    assert!(whats[2].starts_with("record migrations 1 to"), "{whats:?}");
    assert!(plan.steps.iter().all(|s| s.lock == Lock::None));
    let report = plan.to_string();
    for line in [
        "  - users.id bigint, identity, NOT NULL\n",
        "  - orders.status text, default 'pending'::text, NOT NULL\n",
        "  - primary key order_items_pk on order_items (order_id, line)\n",
        "  - index orders_status_id_idx (orders by status, page by page)\n",
        "  - check orders_total_nonnegative (CHECK ((total >= 0)))\n",
        "Left as it is:\n  (nothing)\n",
        "Cannot adopt:\n  (nothing)\n",
    ] {
        assert!(
            report.contains(line),
            "the report lacks {line:?}:\n{report}"
        );
    }
}

#[test]
fn the_legacy_fastapi_schema_gets_orderlys_indexes_and_checks_and_keeps_the_rest() {
    let plan = Plan::of(&legacy());

    assert!(plan.adoptable(), "{plan}");
    let built: Vec<_> = plan
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::IndexToBuild {
                need,
                left_invalid: false,
            } => Some(need.name),
            _ => None,
        })
        .collect();
    let all_indexes: Vec<_> = needs::INDEXES.iter().map(|i| i.name).collect();
    assert_eq!(built, all_indexes);
    let added = plan
        .findings
        .iter()
        .filter(|f| matches!(f, Finding::CheckToAdd(_)))
        .count();
    assert_eq!(added, needs::CHECKS.len());
    let kept: Vec<_> = plan.kept().map(|k| k.to_string()).collect();
    assert!(matches!(
        plan.kept().next(),
        Some(Kept::CaseSensitiveEmailKey)
    ));
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert_eq!(kept[1], "index orders_user_id_idx on orders");

    // Additions first, then the validations, each after its addition.
    let first_validation = plan
        .steps
        .iter()
        .position(|s| s.what.starts_with("validate "))
        .expect("validations");
    assert!(plan.steps[first_validation..plan.steps.len() - 1]
        .iter()
        .all(|s| s.lock == Lock::Weak && s.sql.contains(" VALIDATE CONSTRAINT ")));
    assert_eq!(
        plan.steps[first_validation].sql,
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_total_nonnegative"
    );
    assert!(sqls(&plan).contains(
        &"ALTER TABLE orders ADD CONSTRAINT orders_currency_code CHECK (currency ~ '^[A-Z]{3}$') NOT VALID"
    ));
    // What tests/api/adoption.rs reads in the printed plan of this schema.
    let report = plan.to_string();
    for planned in [
        "users.id integer (read as bigint",
        "foreign key orders_user_id_fkey",
        "build index users_email_lower_key concurrently",
        "add check orders_status_known",
        "validate orders_status_known",
        "record migrations 1 to",
        "unique constraint users_email_key (case-sensitive): kept",
        "table schema_migrations: not orderly's",
        "table idempotency_keys: not orderly's",
        "Cannot adopt:\n  (nothing)",
        "DROP INDEX CONCURRENTLY users_email_lower_key",
    ] {
        assert!(
            report.contains(planned),
            "the plan lacks {planned:?}:\n{report}"
        );
    }
}

#[test]
fn a_missing_default_not_null_check_foreign_key_and_validations_each_get_their_step() {
    let mut catalog = legacy();
    column_mut(&mut catalog, "orders", "currency").default = None;
    column_mut(&mut catalog, "orders", "status").not_null = false;
    catalog
        .constraints
        .retain(|c| c.name != "orders_user_id_fkey");
    constraint_mut(&mut catalog, "order_items_order_id_fkey").validated = false;
    let mut total = check("orders", "orders_total_nonnegative", "total >= 0");
    total.validated = false;
    catalog.constraints.push(total);
    let mut left_invalid = index("orders", "orders_status_id_idx", false, false);
    left_invalid.valid = false;
    catalog.indexes.push(left_invalid);

    let plan = Plan::of(&catalog);

    assert!(plan.adoptable(), "{plan}");
    let sqls = sqls(&plan);
    let expected_in_order = [
        "ALTER TABLE orders ADD CONSTRAINT orders_status_not_null CHECK (status IS NOT NULL) NOT VALID",
        "ALTER TABLE orders ALTER COLUMN currency SET DEFAULT 'USD'",
        "CREATE UNIQUE INDEX CONCURRENTLY users_email_lower_key ON users (lower(email))",
        "DROP INDEX CONCURRENTLY orders_status_id_idx",
        "CREATE INDEX CONCURRENTLY orders_status_id_idx ON orders (status, id)",
        needs::FOREIGN_KEYS[0].add,
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_status_not_null",
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk",
        "ALTER TABLE order_items VALIDATE CONSTRAINT order_items_order_id_fkey",
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_total_nonnegative",
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_status_known",
    ];
    let positions: Vec<_> = expected_in_order
        .iter()
        .map(|sql| sqls.iter().position(|s| s == sql))
        .collect();
    assert!(
        positions.iter().all(Option::is_some) && positions.is_sorted(),
        "{positions:?}:\n{sqls:#?}"
    );
    // The unvalidated check is validated, not added again.
    assert!(!sqls
        .iter()
        .any(|s| s.contains("ADD CONSTRAINT orders_total_nonnegative")));
    let undo: Vec<_> = plan
        .steps
        .iter()
        .filter_map(|s| s.undo.as_deref())
        .collect();
    for dropped in [
        "ALTER TABLE orders ALTER COLUMN currency DROP DEFAULT",
        "ALTER TABLE orders DROP CONSTRAINT orders_status_not_null",
        "ALTER TABLE orders DROP CONSTRAINT orders_user_fk",
    ] {
        assert!(undo.contains(&dropped), "no undo {dropped:?}: {undo:#?}");
    }
    let report = plan.to_string();
    assert!(
        report.contains(
            "  - orders.status character varying(20), default 'pending'::character varying\n"
        ),
        "a column not yet NOT NULL fits without saying so:\n{report}"
    );
}

#[test]
fn a_schema_orderly_cannot_serve_is_refused_with_each_reason() {
    let mut catalog = legacy();
    let name = column_mut(&mut catalog, "users", "name");
    (name.length, name.shown) = (Some(100), "character varying(100)".into());
    let created = column_mut(&mut catalog, "orders", "created_at");
    (created.type_name, created.shown) = ("timestamp".into(), "timestamp without time zone".into());
    column_mut(&mut catalog, "orders", "id").default = None;
    column_mut(&mut catalog, "orders", "status").default = Some("'new'::text".into());
    catalog.columns.retain(|c| c.name != "sku");
    catalog.columns.push(col("users", "password_hash", "text"));

    let plan = Plan::of(&catalog);

    assert!(!plan.adoptable());
    let reasons = blocker_texts(&plan);
    let expected = [
        "users.name is character varying(100); orderly needs text, or varchar of at least 200. \
         Widening it changes only the catalog: ALTER TABLE users ALTER COLUMN name TYPE varchar(200)",
        "orders.id has no identity or sequence default",
        "orders.status defaults to 'new'::text",
        "orders.created_at is timestamp without time zone; orderly needs timestamp with time zone: ",
        "order_items.sku is missing: orderly reads and writes it",
        "users.password_hash is NOT NULL with no default",
    ];
    assert_eq!(reasons.len(), expected.len(), "{reasons:#?}");
    for reason in expected {
        assert!(
            reasons.iter().any(|r| r.starts_with(reason)),
            "no blocker {reason:?}: {reasons:#?}"
        );
    }
    assert!(plan
        .to_string()
        .contains("Cannot adopt:\n  - users.name is"));
}

#[test]
fn a_missing_table_is_one_reason_not_one_per_column() {
    let mut catalog = legacy();
    catalog.columns.retain(|c| c.table != "order_items");

    let plan = Plan::of(&catalog);

    let blockers: Vec<_> = plan.blockers().collect();
    assert!(
        matches!(blockers[..], [Blocker::MissingTable("order_items")]),
        "{blockers:?}"
    );
}

#[test]
fn names_from_the_catalog_are_quoted_in_every_statement() {
    let injected = "x\"; DROP TABLE users; --";
    let mut catalog = legacy();
    let items_fk = constraint_mut(&mut catalog, "order_items_order_id_fkey");
    (items_fk.name, items_fk.validated) = (injected.into(), false);
    constraint_mut(&mut catalog, "orders_user_id_fkey").name = "Orders-FK".into();
    catalog
        .constraints
        .push(check("orders", "Orders-Check", "total < 10"));
    catalog
        .indexes
        .push(index("orders", "Odd Index", false, false));

    let plan = Plan::of(&catalog);

    let sqls = sqls(&plan);
    assert!(
        sqls.contains(
            &"ALTER TABLE order_items VALIDATE CONSTRAINT \"x\"\"; DROP TABLE users; --\""
        ),
        "{sqls:#?}"
    );
    let quoted = [
        (injected, "\"x\"\"; DROP TABLE users; --\""),
        ("Orders-FK", "\"Orders-FK\""),
        ("Orders-Check", "\"Orders-Check\""),
        ("Odd Index", "\"Odd Index\""),
    ];
    let statements = plan
        .steps
        .iter()
        .flat_map(|s| [Some(&s.sql), s.undo.as_ref()])
        .flatten();
    for sql in statements {
        for (raw, quoted) in quoted {
            assert!(
                !sql.replace(quoted, "").contains(raw),
                "{raw:?} unquoted in {sql:?}"
            );
        }
    }
    // The name orderly answers violations by is wrong: the fix it prints
    // is SQL too.
    let reasons = blocker_texts(&plan);
    assert!(
        reasons
            .iter()
            .any(|r| r
                .ends_with("ALTER TABLE orders RENAME CONSTRAINT \"Orders-FK\" TO orders_user_fk")),
        "{reasons:#?}"
    );
    // The report's own words keep the names as they are.
    assert!(plan.to_string().contains(&format!(
        "validate {injected} against the rows already there"
    )));
}
