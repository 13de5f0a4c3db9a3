-- See the PostgreSQL twin. SQLite cannot change a primary key, so
-- idempotency_keys is rebuilt (create, copy, drop, rename).
CREATE TABLE api_keys (
    id           INTEGER CONSTRAINT api_keys_pk PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL DEFAULT '',
    role         TEXT    NOT NULL CONSTRAINT api_keys_role_known CHECK (role IN ('read', 'admin')),
    digest       BLOB    NOT NULL CONSTRAINT api_keys_digest_unique UNIQUE,
    created_at   INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE idempotency_keys_new (
    api_key_id       INTEGER NOT NULL DEFAULT 0,
    scope            TEXT    NOT NULL,
    key              TEXT    NOT NULL,
    fingerprint      BLOB    NOT NULL,
    response_status  INTEGER NOT NULL,
    response_headers TEXT    NOT NULL,
    response_body    BLOB    NOT NULL,
    created_at       INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    CONSTRAINT idempotency_keys_pk PRIMARY KEY (api_key_id, scope, key)
);
INSERT INTO idempotency_keys_new
    (scope, key, fingerprint, response_status, response_headers, response_body, created_at)
SELECT scope, key, fingerprint, response_status, response_headers, response_body, created_at
FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_new RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
