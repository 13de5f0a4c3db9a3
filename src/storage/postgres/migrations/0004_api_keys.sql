-- API keys. Only each key's SHA-256 digest is kept: the key itself is shown
-- once, when it is created. Keys are revoked, never deleted, so an id is
-- never reused and the idempotency keys a client sent stay its own.
CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT api_keys_pk PRIMARY KEY,
    name         text        NOT NULL DEFAULT '',
    role         text        NOT NULL CONSTRAINT api_keys_role_known CHECK (role IN ('read', 'admin')),
    digest       bytea       NOT NULL CONSTRAINT api_keys_digest_unique UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Idempotency keys belong to the API key that sent them (0: sent without
-- one), so two clients choosing the same key never see each other's
-- responses.
ALTER TABLE idempotency_keys ADD COLUMN api_key_id bigint NOT NULL DEFAULT 0;
ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_pk,
    ADD CONSTRAINT idempotency_keys_pk PRIMARY KEY (api_key_id, scope, key);
