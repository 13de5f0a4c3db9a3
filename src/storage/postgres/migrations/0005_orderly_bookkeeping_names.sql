-- orderly's own bookkeeping carries its name, like Flyway's
-- `flyway_schema_history` or Django's `django_migrations`: a database
-- adopted from another service (`orderly migrate --adopt`) may already hold
-- an `idempotency_keys` or a `schema_migrations` of that service's, and
-- orderly's must never meet them. (The migration history itself moves from
-- `schema_migrations` to `orderly_migrations` in the runner, before this
-- runs.) Renames touch only the catalog.
ALTER TABLE idempotency_keys RENAME TO orderly_idempotency_keys;
ALTER TABLE orderly_idempotency_keys
    RENAME CONSTRAINT idempotency_keys_pk TO orderly_idempotency_keys_pk;
ALTER INDEX idempotency_keys_created_at_idx RENAME TO orderly_idempotency_keys_created_at_idx;

ALTER TABLE api_keys RENAME TO orderly_api_keys;
ALTER TABLE orderly_api_keys RENAME CONSTRAINT api_keys_pk TO orderly_api_keys_pk;
ALTER TABLE orderly_api_keys RENAME CONSTRAINT api_keys_role_known TO orderly_api_keys_role_known;
ALTER TABLE orderly_api_keys RENAME CONSTRAINT api_keys_digest_unique TO orderly_api_keys_digest_unique;
ALTER SEQUENCE api_keys_id_seq RENAME TO orderly_api_keys_id_seq;
