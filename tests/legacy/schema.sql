-- The legacy service's schema, made the way a FastAPI + asyncpg team
-- usually makes it: `serial` ids, a `varchar(255)` e-mail under a
-- case-sensitive UNIQUE, PostgreSQL's default constraint names, and a
-- `schema_migrations (version int)` and an `idempotency_keys` of its own,
-- both of which share a name with tables orderly once used. app.py runs
-- this at start-up when schema_migrations does not record version 1; the
-- Rust adoption tests run it directly.
CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY);

CREATE TABLE users (
    id         serial PRIMARY KEY,
    email      varchar(255) NOT NULL UNIQUE,
    name       varchar(255) NOT NULL,
    created_at timestamptz  NOT NULL DEFAULT now(),
    updated_at timestamptz  NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id         serial PRIMARY KEY,
    user_id    integer     NOT NULL REFERENCES users (id),
    total      bigint      NOT NULL,
    status     varchar(20) NOT NULL DEFAULT 'pending',
    currency   varchar(3)  NOT NULL DEFAULT 'USD',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_id_idx ON orders (user_id);

CREATE TABLE order_items (
    order_id   integer     NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line       smallint    NOT NULL,
    sku        varchar(64) NOT NULL,
    quantity   integer     NOT NULL,
    unit_price bigint      NOT NULL,
    PRIMARY KEY (order_id, line)
);

CREATE TABLE idempotency_keys (
    key        varchar(255) PRIMARY KEY,
    response   jsonb        NOT NULL,
    created_at timestamp    NOT NULL DEFAULT now()
);

INSERT INTO schema_migrations (version) VALUES (1);
