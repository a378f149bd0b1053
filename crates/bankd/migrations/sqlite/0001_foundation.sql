-- Client applications, users and their tokens.
-- Timestamps are UTC, whole seconds, stored as RFC 3339 text (fixed width, so text order = time order).
CREATE TABLE clients (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    client_id   TEXT NOT NULL UNIQUE,
    secret_hash BLOB NOT NULL,
    created     TEXT NOT NULL
);

CREATE TABLE client_redirect_uris (
    id_client INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    uri       TEXT NOT NULL,
    PRIMARY KEY (id_client, uri)
);

CREATE TABLE users (
    id        INTEGER PRIMARY KEY,
    id_client INTEGER REFERENCES clients(id) ON DELETE SET NULL,
    signin    TEXT NOT NULL,
    platform  TEXT NOT NULL
);

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    id_user    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash       BLOB NOT NULL UNIQUE,
    kind       TEXT NOT NULL,           -- permanent | temporary | code
    single_use BOOLEAN NOT NULL,
    expires_at TEXT,
    created    TEXT NOT NULL
);
CREATE INDEX tokens_user ON tokens(id_user);
