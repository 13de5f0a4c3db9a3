-- The PostgreSQL twin's changes: every unique, foreign-key and check
-- constraint gets the same name as there (the code maps violations by name,
-- storage/sqlite/errors.rs), and orders.user_id's foreign key becomes
-- immediate. SQLite cannot alter a constraint, so each table is rebuilt the
-- way its documentation describes (create the new table, copy, drop the old,
-- rename): https://www.sqlite.org/lang_altertable.html#otheralter. The
-- migration runner turns foreign keys off around it and checks them all
-- before committing.

-- AUTOINCREMENT's high-water marks, so that the ids of deleted rows are
-- still never handed out again.
CREATE TEMP TABLE kept_sequences AS SELECT name, seq FROM main.sqlite_sequence;

CREATE TABLE users_new (
    id         INTEGER CONSTRAINT users_pk PRIMARY KEY AUTOINCREMENT,
    email      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
);

CREATE TABLE orders_new (
    id         INTEGER CONSTRAINT orders_pk PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL CONSTRAINT orders_user_fk REFERENCES users (id),
    total      INTEGER NOT NULL CONSTRAINT orders_total_nonnegative CHECK (total >= 0),
    status     TEXT    NOT NULL DEFAULT 'pending' CONSTRAINT orders_status_known
               CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
    currency   TEXT    NOT NULL DEFAULT 'USD' CONSTRAINT orders_currency_code
               CHECK (length(currency) = 3 AND currency = upper(currency)),
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
);

CREATE TABLE order_items_new (
    order_id   INTEGER NOT NULL CONSTRAINT order_items_order_fk
               REFERENCES orders (id) ON DELETE CASCADE,
    line       INTEGER NOT NULL CONSTRAINT order_items_line_nonnegative CHECK (line >= 0),
    sku        TEXT    NOT NULL,
    quantity   INTEGER NOT NULL CONSTRAINT order_items_quantity_range
               CHECK (quantity BETWEEN 1 AND 10000),
    unit_price INTEGER NOT NULL CONSTRAINT order_items_unit_price_range
               CHECK (unit_price BETWEEN 0 AND 100000000),
    CONSTRAINT order_items_pk PRIMARY KEY (order_id, line)
);

CREATE TABLE idempotency_keys_new (
    scope            TEXT    NOT NULL,
    key              TEXT    NOT NULL,
    fingerprint      BLOB    NOT NULL,
    response_status  INTEGER NOT NULL,
    response_headers TEXT    NOT NULL,
    response_body    BLOB    NOT NULL,
    created_at       INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    CONSTRAINT idempotency_keys_pk PRIMARY KEY (scope, key)
);

INSERT INTO users_new (id, email, name, created_at, updated_at)
    SELECT id, email, name, created_at, updated_at FROM users;
INSERT INTO orders_new (id, user_id, total, status, currency, created_at, updated_at)
    SELECT id, user_id, total, status, currency, created_at, updated_at FROM orders;
INSERT INTO order_items_new (order_id, line, sku, quantity, unit_price)
    SELECT order_id, line, sku, quantity, unit_price FROM order_items;
INSERT INTO idempotency_keys_new
        (scope, key, fingerprint, response_status, response_headers, response_body, created_at)
    SELECT scope, key, fingerprint, response_status, response_headers, response_body, created_at
    FROM idempotency_keys;

DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE users;
DROP TABLE idempotency_keys;

ALTER TABLE users_new RENAME TO users;
ALTER TABLE orders_new RENAME TO orders;
ALTER TABLE order_items_new RENAME TO order_items;
ALTER TABLE idempotency_keys_new RENAME TO idempotency_keys;

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE INDEX orders_user_id_id_idx ON orders (user_id, id);
CREATE INDEX orders_status_id_idx ON orders (status, id);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

DELETE FROM main.sqlite_sequence WHERE name IN (SELECT name FROM kept_sequences);
INSERT INTO main.sqlite_sequence (name, seq) SELECT name, seq FROM kept_sequences;
DROP TABLE kept_sequences;
