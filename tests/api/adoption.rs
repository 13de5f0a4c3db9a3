//! `orderly migrate --adopt`: a database another service made (the legacy
//! FastAPI fixture's schema, `tests/legacy/schema.sql`, with `serial` ids,
//! a case-sensitive unique e-mail and a `schema_migrations` and
//! `idempotency_keys` of its own) is planned without a change, refused
//! with the ids of the rows that break orderly's rules, and adopted so that
//! orderly serves its rows as they were. PostgreSQL only: SQLite is only
//! ever orderly's own (`sqlite_has_nothing_to_adopt`). The legacy service
//! itself running beside orderly is `scripts/suite/adopt-side-by-side.sh`.

use serde_json::{json, Value};

use crate::helpers::process::orderly_command;
use crate::helpers::{Backend, DbPool, TestApp};

const LEGACY_SCHEMA: &str = include_str!("../legacy/schema.sql");

/// Three users (one with a capitalised address), two orders with items,
/// and one made the contract's way, without items.
const LEGACY_ROWS: &str = "
    INSERT INTO users (email, name, created_at, updated_at) VALUES
        ('ada@example.com', 'Ada', '2024-03-01 10:00:00+00', '2024-03-02 11:30:00.123456+00'),
        ('Bob@Example.com', 'Bob', '2024-03-01 10:05:00+00', '2024-03-01 10:05:00+00'),
        ('cy@example.com', 'Cy', '2024-03-01 10:10:00+00', '2024-03-01 10:10:00+00');
    INSERT INTO orders (user_id, total, status, currency) VALUES (1, 2599, 'paid', 'USD'), (2, 800, 'pending', 'EUR');
    INSERT INTO order_items VALUES (1, 0, 'BOOK-1', 2, 1250), (1, 1, 'PEN-7', 1, 99), (2, 0, 'MUG', 1, 800);
    INSERT INTO orders (user_id, total) VALUES (3, 100);";

/// What a case-sensitive `UNIQUE (email)` and no checks let the legacy
/// service write, each breaking one rule of orderly's.
const BROKEN_ROWS: &str = "
    INSERT INTO users (email, name) VALUES ('ADA@example.com', 'Ada again');
    INSERT INTO orders (user_id, total, status) VALUES (2, 500, 'refunded');
    INSERT INTO orders (user_id, total, currency) VALUES (2, 300, 'usd');
    UPDATE orders SET total = 2600 WHERE id = 1;
    INSERT INTO order_items VALUES (2, 1, 'MUG-LID', 0, 100);";

/// The schema's shape and rows, as one comparable text: relations,
/// columns, constraints (validated or not), indexes (valid or not),
/// triggers, and a digest of every row of the data tables.
const SNAPSHOT: &str = "WITH ns AS (SELECT current_schema()::regnamespace AS oid),
    rel AS (SELECT c.oid, c.relname, c.relkind FROM pg_class c, ns WHERE c.relnamespace = ns.oid)
    SELECT string_agg(o, E'\n' ORDER BY o) FROM (
        SELECT format('relation %s %s', relname, relkind) AS o FROM rel
        UNION ALL SELECT format('column %s.%s %s %s %s', rel.relname, a.attname,
                                format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
            FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        UNION ALL SELECT format('constraint %s %s %s', conname, pg_get_constraintdef(c.oid), convalidated)
            FROM pg_constraint c, ns WHERE c.connamespace = ns.oid
        UNION ALL SELECT format('index %s %s', pg_get_indexdef(i.indexrelid), i.indisvalid)
            FROM rel JOIN pg_index i ON i.indexrelid = rel.oid
        UNION ALL SELECT format('trigger %s %s', rel.relname, t.tgname)
            FROM rel JOIN pg_trigger t ON t.tgrelid = rel.oid
        UNION ALL SELECT format('rows %s %s %s',
            (SELECT md5(string_agg(u::text, ',' ORDER BY id)) FROM users u),
            (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o),
            (SELECT md5(string_agg(i::text, ',' ORDER BY order_id, line)) FROM order_items i))
    ) objects";

/// The shape of orderly's own tables (`orderly_*`): columns, constraints,
/// indexes, sequences.
const BOOKKEEPING_SHAPE: &str = "WITH ns AS (SELECT current_schema()::regnamespace AS oid),
    rel AS (SELECT c.oid, c.relname, c.relkind FROM pg_class c, ns
            WHERE c.relnamespace = ns.oid AND c.relname LIKE 'orderly\\_%')
    SELECT string_agg(o, E'\n' ORDER BY o) FROM (
        SELECT format('relation %s %s', relname, relkind) AS o FROM rel
        UNION ALL SELECT format('column %s.%s %s %s %s %s', rel.relname, a.attname,
                                format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
                                pg_get_expr(d.adbin, d.adrelid))
            FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE rel.relkind = 'r'
        UNION ALL SELECT format('constraint %s %s', conname, pg_get_constraintdef(c.oid))
            FROM pg_constraint c JOIN rel ON c.conrelid = rel.oid
        UNION ALL SELECT 'index ' || replace(pg_get_indexdef(i.indexrelid),
                                             ' ON ' || quote_ident(current_schema()) || '.', ' ON ')
            FROM rel JOIN pg_index i ON i.indexrelid = rel.oid
    ) objects";

async fn legacy(db: &DbPool, rows: &[&str]) {
    db.execute(LEGACY_SCHEMA).await;
    for sql in rows {
        db.execute(sql).await;
    }
}

async fn adopt(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["migrate", "--adopt"];
    all.extend_from_slice(args);
    orderly_command(url, &all).await
}

/// An app on the legacy rows, adopted through the command line.
async fn adopted() -> TestApp {
    TestApp::spawn_after(async |db, url| {
        legacy(db, &[LEGACY_ROWS]).await;
        let (code, stdout, stderr) = adopt(url, &[]).await;
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(stdout.contains("Adopted in"), "{stdout}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_the_plan_and_plain_migrations_refuse_both_changing_nothing() {
    let app = TestApp::spawn_after(async |db, url| {
        legacy(db, &[LEGACY_ROWS]).await;
        let before = db.text(SNAPSHOT).await;

        let (code, stdout, stderr) = adopt(url, &["--dry-run"]).await;
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
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
            "Rows that break orderly's rules:\n  (none)",
            "DROP INDEX CONCURRENTLY users_email_lower_key",
            "Dry run: nothing was changed",
        ] {
            assert!(
                stdout.contains(planned),
                "the plan lacks {planned:?}:\n{stdout}"
            );
        }
        assert_eq!(
            db.text(SNAPSHOT).await,
            before,
            "the dry run changed the database"
        );

        for serve_or_migrate in [&["migrate"][..], &["--bind", "127.0.0.1:0"]] {
            let (code, _, stderr) = orderly_command(url, serve_or_migrate).await;
            assert_eq!(code, Some(1), "{serve_or_migrate:?}: {stderr}");
            assert!(
                stderr.contains("users, orders, order_items made by another service")
                    && stderr.contains("`orderly migrate --adopt --dry-run`"),
                "{serve_or_migrate:?}: {stderr}"
            );
        }
        assert_eq!(
            db.text(SNAPSHOT).await,
            before,
            "a refused migration changed the database"
        );
        // The app below may now adopt and serve.
        assert_eq!(adopt(url, &[]).await.0, Some(0));
    })
    .await;
    assert_eq!(app.get("/api/v1/users/1").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_that_break_orderlys_rules_stop_the_adoption_with_their_ids() {
    let _app = TestApp::spawn_after(async |db, url| {
        legacy(db, &[LEGACY_ROWS, BROKEN_ROWS]).await;
        let before = db.text(SNAPSHOT).await;

        let (code, stdout, stderr) = adopt(url, &[]).await;
        assert_eq!(code, Some(1), "{stdout}\n{stderr}");
        for reported in [
            "e-mail addresses held by several users in different letter cases: 1 (ids: 1 and 4 (ada@example.com))",
            "orders whose total is not the sum of their items: 1 (ids: 1 (total 2600, items 2599))",
            "orders with a status outside pending, paid, shipped, delivered, cancelled: 1 (ids: 4)",
            "orders whose currency is not three capital letters: 1 (ids: 5)",
            "order items whose quantity is outside 1 to 10000: 1 (ids: order 2 line 1)",
        ] {
            assert!(stdout.contains(reported), "the report lacks {reported:?}:\n{stdout}");
        }
        assert!(
            stderr.contains("cannot adopt") && stderr.contains("nothing was changed"),
            "{stderr}"
        );
        assert!(!stdout.contains("Carrying out"), "{stdout}");
        assert_eq!(db.text(SNAPSHOT).await, before, "a refused adoption changed the database");

        // Fixed through the old service's own means, it adopts.
        db.execute(
            "DELETE FROM users WHERE id = 4; UPDATE orders SET total = 2599 WHERE id = 1;
             UPDATE orders SET status = 'cancelled' WHERE id = 4; UPDATE orders SET currency = 'USD' WHERE id = 5;
             UPDATE order_items SET quantity = 1 WHERE order_id = 2 AND line = 1;
             UPDATE orders SET total = 900 WHERE id = 2;",
        )
        .await;
        let (code, stdout, stderr) = adopt(url, &[]).await;
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_orderly_cannot_serve_is_refused_with_each_reason() {
    let _app = TestApp::spawn_after(async |db, url| {
        legacy(db, &[LEGACY_ROWS]).await;
        db.execute(
            "ALTER TABLE users ADD COLUMN password_hash text NOT NULL DEFAULT 'x';
             ALTER TABLE users ALTER COLUMN password_hash DROP DEFAULT;
             ALTER TABLE users ALTER COLUMN name TYPE varchar(100);
             ALTER TABLE orders ALTER COLUMN created_at TYPE timestamp;
             ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey,
                 ADD CONSTRAINT fk_orders_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
             ALTER TABLE order_items RENAME CONSTRAINT order_items_order_id_fkey TO fk_items_orders;",
        )
        .await;
        let before = db.text(SNAPSHOT).await;
        let (code, stdout, stderr) = adopt(url, &["--dry-run"]).await;
        assert_eq!(code, Some(1), "{stdout}\n{stderr}");
        for reason in [
            "users.password_hash is NOT NULL with no default",
            "users.name is character varying(100); orderly needs text, or varchar of at least 200. \
             Widening it changes only the catalog: ALTER TABLE users ALTER COLUMN name TYPE varchar(200)",
            "orders.created_at is timestamp without time zone",
            "foreign key fk_orders_users on orders (user_id)",
            "RENAME CONSTRAINT fk_orders_users TO orders_user_fk",
            "ON DELETE CASCADE",
        ] {
            assert!(stdout.contains(reason), "the plan lacks {reason:?}:\n{stdout}");
        }
        // The items' key is never answered by name: any name will do.
        assert!(stdout.contains("foreign key fk_items_orders ("), "{stdout}");
        assert!(!stdout.contains("foreign key fk_items_orders on"), "{stdout}");
        assert_eq!(db.text(SNAPSHOT).await, before);
        // Fixed as each reason says, it adopts.
        db.execute(
            "ALTER TABLE users DROP COLUMN password_hash;
             ALTER TABLE users ALTER COLUMN name TYPE varchar(200);
             ALTER TABLE orders ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC';
             ALTER TABLE orders DROP CONSTRAINT fk_orders_users,
                 ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);",
        )
        .await;
        let (code, stdout, stderr) = adopt(url, &[]).await;
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_database_serves_the_old_rows_as_they_were() {
    let app = adopted().await;

    let ada = app.get_json("/api/v1/users/1").await;
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["name"], "Ada");
    assert_eq!(instant(&ada["created_at"]), "2024-03-01T10:00:00+00:00");
    assert_eq!(
        instant(&ada["updated_at"]),
        "2024-03-02T11:30:00.123456+00:00"
    );
    let order = app.get_json("/api/v1/orders/1").await;
    assert_eq!(order["user_id"], 1);
    assert_eq!(order["status"], "paid");
    assert_eq!(order["total"], 2599);
    assert_eq!(
        order["items"],
        json!([{"sku": "BOOK-1", "quantity": 2, "unit_price": 1250},
               {"sku": "PEN-7", "quantity": 1, "unit_price": 99}])
    );
    let without_items = app.get_json("/api/v1/orders/3").await;
    assert_eq!(
        (
            without_items["total"].clone(),
            without_items["items"].clone()
        ),
        (json!(100), json!([]))
    );

    // The rules orderly added hold for everyone now; ids come from the
    // old service's sequences.
    let taken = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "BOB@example.COM", "name": "B"}),
        )
        .await;
    assert_eq!(taken.status(), 409);
    let new = app.create_user("dee@example.com", "Dee").await;
    assert!(new["id"].as_i64().unwrap() > 3, "{new}");
    assert_eq!(
        app.db_pool
            .try_execute("INSERT INTO users (email, name) VALUES ('DEE@example.com', 'x')")
            .await,
        Err(crate::helpers::Refused::UniqueViolation)
    );
    let moved = app
        .send_json(
            reqwest::Method::PUT,
            "/api/v1/orders/2",
            &json!({"status": "paid"}),
            None,
        )
        .await;
    assert_eq!(moved.status(), 200);
    assert_eq!(
        app.delete("/api/v1/users/2").await.status(),
        409,
        "Bob has orders"
    );

    // Ids beyond the old `integer` columns: no such user, never a 500.
    let beyond = 3_000_000_000_i64;
    assert_eq!(
        app.get(&format!("/api/v1/users/{beyond}")).await.status(),
        404
    );
    let unknown = app
        .post_json(
            "/api/v1/orders",
            &json!({"user_id": 999_999, "items": [one()]}),
        )
        .await;
    let too_big = app
        .post_json(
            "/api/v1/orders",
            &json!({"user_id": beyond, "items": [one()]}),
        )
        .await;
    assert_eq!(unknown.status(), 422);
    assert_eq!(too_big.status(), 422);

    // Later migrations run as usual; adopting again has nothing to do.
    let url = app.database_url().to_owned();
    let (code, _, stderr) = orderly_command(&url, &["migrate"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let recorded = app.db_pool.count("orderly_migrations").await;
    assert_eq!(
        recorded,
        orderly::storage::postgres::MIGRATIONS.len() as i64
    );
    let (code, stdout, stderr) = adopt(&url, &["--dry-run"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("this schema is orderly's already"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_makes_orderlys_own_tables_as_its_migrations_do() {
    let adopted = adopted().await;
    let migrated = TestApp::spawn(Backend::Postgres).await;
    let (ours, theirs) = (
        adopted.db_pool.text(BOOKKEEPING_SHAPE).await,
        migrated.db_pool.text(BOOKKEEPING_SHAPE).await,
    );
    assert!(ours.contains("orderly_idempotency_keys_pk"), "{ours}");
    assert_eq!(ours, theirs);
    // And they work: a keyed create is stored under its key.
    adopted.assert_keyed_create_is_stored("adopt-1").await;
    assert_eq!(
        adopted.db_pool.count("idempotency_keys").await,
        0,
        "the old service's table is not orderly's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_schema_is_refused_as_probably_the_wrong_database() {
    let _app = TestApp::spawn_after(async |_, url| {
        let (code, _, stderr) = adopt(url, &["--dry-run"]).await;
        assert_eq!(code, Some(1));
        assert!(
            stderr.contains("holds none of users, orders, order_items (is DATABASE_URL"),
            "{stderr}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_has_nothing_to_adopt() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("orderly.db").display());
    let (code, _, stderr) = adopt(&url, &[]).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("nothing to adopt") && stderr.contains("SQLite"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("orderly.db").exists(),
        "adopting made a database"
    );
}

/// An RFC 3339 timestamp as a UTC instant with its offset spelled out.
fn instant(value: &Value) -> String {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp"))
        .expect("RFC 3339")
        .to_utc()
        .to_rfc3339()
}

fn one() -> Value {
    json!({"sku": "X", "quantity": 1, "unit_price": 1})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adoption_stopped_midway_resumes_and_rebuilds_an_index_left_invalid() {
    let _app = TestApp::spawn_after(async |db, url| {
        legacy(db, &[LEGACY_ROWS]).await;
        // What a build stopped by a duplicate leaves: an invalid index.
        db.execute("INSERT INTO users (email, name) VALUES ('ADA@example.com', 'Dup')")
            .await;
        let refused = db
            .try_execute(
                "CREATE UNIQUE INDEX CONCURRENTLY users_email_lower_key ON users (lower(email))",
            )
            .await;
        assert_eq!(refused, Err(crate::helpers::Refused::UniqueViolation));
        db.execute("DELETE FROM users WHERE name = 'Dup'").await;

        let (code, stdout, stderr) = adopt(url, &[]).await;
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("drop users_email_lower_key, left invalid by a build that did not finish"),
            "{stdout}"
        );
        let valid = "SELECT count(*) FROM pg_index WHERE indexrelid = 'users_email_lower_key'::regclass AND indisvalid";
        assert_eq!(db.scalar(valid).await, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_must_wait_for_a_lock_gives_way_to_the_old_services_writes() {
    let _app = TestApp::spawn_after(async |db, url| {
        legacy(db, &[LEGACY_ROWS]).await;
        // Only the checks are left to add, so the first step that needs
        // a lock blocking writes meets the transaction below.
        db.execute(
            "CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
             CREATE INDEX orders_user_id_id_idx ON orders (user_id, id);
             CREATE INDEX orders_status_id_idx ON orders (status, id);",
        )
        .await;
        let DbPool::Postgres(pool) = db else {
            unreachable!("adoption is PostgreSQL's")
        };
        // The old service, in the middle of a long read of orders.
        let reader = pool.get().await.expect("a connection");
        reader
            .batch_execute("BEGIN; SELECT count(*) FROM orders")
            .await
            .unwrap();
        let adoption = tokio::spawn({
            let url = url.to_owned();
            async move { adopt(&url, &[]).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        // The old service's writes still go through while the adoption
        // waits: it queues in front of them for at most 500 ms at a time.
        let writer = pool.get().await.expect("a connection");
        let started = std::time::Instant::now();
        writer
            .batch_execute("INSERT INTO orders (user_id, total) VALUES (1, 5)")
            .await
            .unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_millis(1200),
            "a write waited {:?} behind the adoption",
            started.elapsed()
        );
        assert!(
            !adoption.is_finished(),
            "the adoption did not wait for the lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        reader.batch_execute("COMMIT").await.unwrap();

        let (code, stdout, stderr) = adoption.await.unwrap();
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        let first = stdout
            .lines()
            .find(|l| l.ends_with("add check orders_total_nonnegative (total >= 0)"))
            .unwrap_or_else(|| panic!("{stdout}"));
        let attempts: u32 = first
            .split('(')
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{first}"));
        assert!(attempts >= 2, "no step gave way and tried again: {first}");
    })
    .await;
}
