-- See the PostgreSQL twin. SQLite keeps the constraint names written in a
-- table's definition when the table is renamed; its errors name unique
-- constraints by their columns (`errors.rs`), so only the tables and the
-- index are renamed here, without rebuilding the tables.
ALTER TABLE idempotency_keys RENAME TO orderly_idempotency_keys;
DROP INDEX idempotency_keys_created_at_idx;
CREATE INDEX orderly_idempotency_keys_created_at_idx ON orderly_idempotency_keys (created_at);
ALTER TABLE api_keys RENAME TO orderly_api_keys;
