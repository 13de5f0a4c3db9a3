-- Responses stored under idempotency keys, replayed for 24 hours. A row is
-- written in the same transaction as the resource it created, so there is
-- never a key without its resource nor a resource without its key. A request
-- still running holds a transaction-scoped advisory lock on its key instead
-- of a row, so a crash leaves nothing behind to block a retry.
CREATE TABLE idempotency_keys (
    scope            text        NOT NULL,
    key              text        NOT NULL,
    fingerprint      bytea       NOT NULL,
    response_status  smallint    NOT NULL,
    response_headers text        NOT NULL,
    response_body    bytea       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- Keeps `GET /api/v1/orders?status=...` a keyset walk at any depth.
CREATE INDEX orders_status_id_idx ON orders (status, id);
