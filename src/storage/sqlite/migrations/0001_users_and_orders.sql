-- The same tables and rules as on PostgreSQL. Timestamps are integer
-- microseconds since the Unix epoch (UTC), which SQLite compares exactly.
CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE orders (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    total      INTEGER NOT NULL CHECK (total >= 0),
    status     TEXT    NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
    currency   TEXT    NOT NULL DEFAULT 'USD'
               CHECK (length(currency) = 3 AND currency = upper(currency)),
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
);
CREATE INDEX orders_user_id_id_idx ON orders (user_id, id);

CREATE TABLE order_items (
    order_id   INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line       INTEGER NOT NULL CHECK (line >= 0),
    sku        TEXT    NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    unit_price INTEGER NOT NULL CHECK (unit_price BETWEEN 0 AND 100000000),
    PRIMARY KEY (order_id, line)
);
