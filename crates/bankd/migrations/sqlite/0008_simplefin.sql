-- SimpleFIN: a budgeting app (Actual Budget, Firefly III, Home Assistant) is given a one-use setup
-- token, claims it for an access URL, and reads one user's accounts with that URL's credentials.
-- Tokens and secrets are kept as SHA-256 only, like every bearer secret of bankd.

CREATE TABLE simplefin_claims (
    token_hash BLOB PRIMARY KEY,
    id_user    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created    TEXT NOT NULL,
    expires    TEXT NOT NULL,
    claimed    TEXT               -- set once: a second claim is refused
);

CREATE TABLE simplefin_access (
    id          INTEGER PRIMARY KEY,
    id_user     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    username    TEXT NOT NULL UNIQUE,
    secret_hash BLOB NOT NULL,
    created     TEXT NOT NULL,
    last_used   TEXT,
    revoked     TEXT
);
CREATE INDEX simplefin_access_user ON simplefin_access(id_user);
