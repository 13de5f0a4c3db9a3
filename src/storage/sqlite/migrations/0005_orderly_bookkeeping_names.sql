-- See the PostgreSQL twin. SQLite keeps the constraint names written in a
-- table's definition when the table is renamed, so orderly_idempotency_keys,
-- whose primary key the code names, is rebuilt (create, copy, drop); the
-- API keys' table is only renamed (its AUTOINCREMENT counter stays, so no
-- id is ever handed out twice), keeping its constraints' old names.
CREATE TABLE orderly_idempotency_keys (
    api_key_id       INTEGER NOT NULL DEFAULT 0,
    scope            TEXT    NOT NULL,
    key              TEXT    NOT NULL,
    fingerprint      BLOB    NOT NULL,
    response_status  INTEGER NOT NULL,
    response_headers TEXT    NOT NULL,
    response_body    BLOB    NOT NULL,
    created_at       INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    CONSTRAINT orderly_idempotency_keys_pk PRIMARY KEY (api_key_id, scope, key)
);
INSERT INTO orderly_idempotency_keys
SELECT api_key_id, scope, key, fingerprint, response_status, response_headers, response_body, created_at
FROM idempotency_keys;
DROP TABLE idempotency_keys;
CREATE INDEX orderly_idempotency_keys_created_at_idx ON orderly_idempotency_keys (created_at);

ALTER TABLE api_keys RENAME TO orderly_api_keys;
