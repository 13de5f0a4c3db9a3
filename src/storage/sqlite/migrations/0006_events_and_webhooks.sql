-- See the PostgreSQL twin. One writer commits at a time, so `seq` order is
-- commit order here and the feed needs no horizon. AUTOINCREMENT: a `seq`
-- is never handed out twice, even once every event has been purged, so a
-- reader's cursor never points past new events.
CREATE TABLE orderly_events (
    seq             INTEGER CONSTRAINT orderly_events_pk PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL CONSTRAINT orderly_events_id_unique UNIQUE,
    type            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    data            TEXT    NOT NULL,
    previous_status TEXT
);
CREATE INDEX orderly_events_created_at_idx ON orderly_events (created_at);

CREATE TABLE orderly_webhook_endpoints (
    id              INTEGER CONSTRAINT orderly_webhook_endpoints_pk PRIMARY KEY AUTOINCREMENT,
    url             TEXT    NOT NULL,
    event_types     TEXT,
    secret          TEXT    NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    created_at      INTEGER NOT NULL,
    feed_seq        INTEGER NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    retry_at        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE orderly_webhook_deliveries (
    endpoint_id     INTEGER NOT NULL CONSTRAINT orderly_webhook_deliveries_endpoint_fk
                        REFERENCES orderly_webhook_endpoints (id) ON DELETE CASCADE,
    event_seq       INTEGER NOT NULL CONSTRAINT orderly_webhook_deliveries_event_fk
                        REFERENCES orderly_events (seq) ON DELETE CASCADE,
    state           TEXT    NOT NULL DEFAULT 'pending'
                        CONSTRAINT orderly_webhook_deliveries_state_known CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    leased_until    INTEGER,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    finished_at     INTEGER,
    CONSTRAINT orderly_webhook_deliveries_pk PRIMARY KEY (endpoint_id, event_seq)
);
CREATE INDEX orderly_webhook_deliveries_pending_idx
    ON orderly_webhook_deliveries (endpoint_id, event_seq) WHERE state = 'pending';
CREATE INDEX orderly_webhook_deliveries_pending_age_idx
    ON orderly_webhook_deliveries (created_at) WHERE state = 'pending';
-- The attempts in flight, counted on every claim.
CREATE INDEX orderly_webhook_deliveries_leased_idx
    ON orderly_webhook_deliveries (endpoint_id) WHERE state = 'pending' AND leased_until IS NOT NULL;
CREATE INDEX orderly_webhook_deliveries_event_idx ON orderly_webhook_deliveries (event_seq);
