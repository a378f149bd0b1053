-- Webhooks: client apps' HMAC secrets and subscriptions, the transactional outbox of events, and
-- the deliveries the workers claim like jobs.

-- Powens' "auth providers": the secret a client app's deliveries are signed with (sealed).
CREATE TABLE webhook_auths (
    id        INTEGER PRIMARY KEY,
    id_client INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    type      TEXT NOT NULL,              -- hmac_signature
    name      TEXT NOT NULL,
    secret    BLOB NOT NULL,              -- sealed (AES-256-GCM), see crypto.rs
    created   TEXT NOT NULL
);
CREATE INDEX webhook_auths_client ON webhook_auths(id_client);

-- A client app's URL for one event.
CREATE TABLE webhooks (
    id        INTEGER PRIMARY KEY,
    id_client INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    event     TEXT NOT NULL,
    url       TEXT NOT NULL,
    id_auth   INTEGER REFERENCES webhook_auths(id) ON DELETE SET NULL,
    created   TEXT NOT NULL
);
CREATE INDEX webhooks_client_event ON webhooks(id_client, event);

-- The outbox: an event is written in the database transaction of the change that causes it, with
-- a snapshot of what its payload shows. No foreign keys: a deleted user's events still go out.
CREATE TABLE webhook_events (
    id            INTEGER PRIMARY KEY,
    event         TEXT NOT NULL,
    id_client     INTEGER NOT NULL,
    id_user       INTEGER NOT NULL,
    id_connection INTEGER,
    snapshot      TEXT NOT NULL,          -- JSON, see store::outbox::Snapshot
    created       TEXT NOT NULL
);

-- One event to one subscription's URL.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    id_event        INTEGER NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    id_webhook      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    id_user         INTEGER NOT NULL,     -- order is kept per (url, user)
    state           TEXT NOT NULL,        -- pending | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    run_at          TEXT NOT NULL,
    locked_by       TEXT,
    locked_until    TEXT,
    last_attempt    TEXT,
    last_status     INTEGER,
    last_latency_ms INTEGER,
    last_error      TEXT,
    created         TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(run_at, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries(url, id_user, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(id_webhook, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(id_event);
-- Old deliveries and events are purged by age.
CREATE INDEX webhook_deliveries_created ON webhook_deliveries(created);
CREATE INDEX webhook_events_created ON webhook_events(created);

-- The `expire` a CONSENT_EXPIRING event was sent for: one warning per consent.
ALTER TABLE connections ADD COLUMN expiring_notified TEXT;
