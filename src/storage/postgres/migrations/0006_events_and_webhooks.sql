-- IF NOT EXISTS throughout: adoption (`orderly migrate --adopt`) runs this
-- same file to make these tables beside an adopted service's.
-- Events, written by the statement that makes each change (the outbox), so
-- that an event exists exactly when its change committed.
--
-- `xid` is the writing transaction's id. The feed serves events in
-- (xid, seq) order and only below the oldest transaction still running
-- (`pg_snapshot_xmin`): a sequence value is taken before commit, so a lower
-- `seq` can become visible after a higher one, but no transaction can
-- still commit an event below that horizon, so a reader following the
-- feed never skips one. `data` holds the changed row's columns
-- (timestamps in microseconds), rendered as the API shows it when read.
CREATE TABLE IF NOT EXISTS orderly_events (
    seq             bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT orderly_events_pk PRIMARY KEY,
    xid             bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    id              uuid        NOT NULL DEFAULT gen_random_uuid() CONSTRAINT orderly_events_id_unique UNIQUE,
    type            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    data            jsonb       NOT NULL,
    previous_status text
);
CREATE INDEX IF NOT EXISTS orderly_events_feed_idx ON orderly_events (xid, seq);
CREATE INDEX IF NOT EXISTS orderly_events_created_at_idx ON orderly_events (created_at);

-- Webhook endpoints. Each has its own place in the feed (`feed_xid`,
-- `feed_seq`): events after it are queued as deliveries. `failures` counts
-- the failed attempts in a row; while it is above zero the endpoint is
-- retried no earlier than `retry_at`, one delivery (its oldest) at a time.
CREATE TABLE IF NOT EXISTS orderly_webhook_endpoints (
    id              bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT orderly_webhook_endpoints_pk PRIMARY KEY,
    url             text        NOT NULL,
    event_types     text[],
    secret          text        NOT NULL,
    enabled         boolean     NOT NULL DEFAULT true,
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    feed_xid        bigint      NOT NULL DEFAULT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint),
    feed_seq        bigint      NOT NULL DEFAULT 0,
    failures        integer     NOT NULL DEFAULT 0,
    retry_at        timestamptz NOT NULL DEFAULT now()
);

-- One row per event and subscribed endpoint. A claimed delivery is leased
-- (`leased_until`) rather than locked while it is sent, so that no
-- transaction stays open across a network call (an open one would hold
-- the feed's horizon back).
CREATE TABLE IF NOT EXISTS orderly_webhook_deliveries (
    endpoint_id     bigint      NOT NULL CONSTRAINT orderly_webhook_deliveries_endpoint_fk
                        REFERENCES orderly_webhook_endpoints (id) ON DELETE CASCADE,
    event_seq       bigint      NOT NULL CONSTRAINT orderly_webhook_deliveries_event_fk
                        REFERENCES orderly_events (seq) ON DELETE CASCADE,
    event_xid       bigint      NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                        CONSTRAINT orderly_webhook_deliveries_state_known CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    finished_at     timestamptz,
    CONSTRAINT orderly_webhook_deliveries_pk PRIMARY KEY (endpoint_id, event_seq)
);
CREATE INDEX IF NOT EXISTS orderly_webhook_deliveries_pending_idx
    ON orderly_webhook_deliveries (endpoint_id, event_xid, event_seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS orderly_webhook_deliveries_pending_age_idx
    ON orderly_webhook_deliveries (created_at) WHERE state = 'pending';
-- The attempts in flight, counted on every claim.
CREATE INDEX IF NOT EXISTS orderly_webhook_deliveries_leased_idx
    ON orderly_webhook_deliveries (endpoint_id) WHERE state = 'pending' AND leased_until IS NOT NULL;
CREATE INDEX IF NOT EXISTS orderly_webhook_deliveries_event_idx ON orderly_webhook_deliveries (event_seq);
