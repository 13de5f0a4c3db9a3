-- orderly's own tables in the shape its migrations 1 to 5 leave them, made
-- beside an adopted service's tables (`orderly migrate --adopt`). The
-- adoption tests compare this with a schema orderly migrated itself.
CREATE TABLE IF NOT EXISTS orderly_idempotency_keys (
    scope            text        NOT NULL,
    key              text        NOT NULL,
    fingerprint      bytea       NOT NULL,
    response_status  smallint    NOT NULL,
    response_headers text        NOT NULL,
    response_body    bytea       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    api_key_id       bigint      NOT NULL DEFAULT 0,
    CONSTRAINT orderly_idempotency_keys_pk PRIMARY KEY (api_key_id, scope, key)
);
CREATE INDEX IF NOT EXISTS orderly_idempotency_keys_created_at_idx
    ON orderly_idempotency_keys (created_at);

CREATE TABLE IF NOT EXISTS orderly_api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT orderly_api_keys_pk PRIMARY KEY,
    name         text        NOT NULL DEFAULT '',
    role         text        NOT NULL CONSTRAINT orderly_api_keys_role_known CHECK (role IN ('read', 'admin')),
    digest       bytea       NOT NULL CONSTRAINT orderly_api_keys_digest_unique UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
