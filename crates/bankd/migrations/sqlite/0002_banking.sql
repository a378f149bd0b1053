-- Connections to banks, their sources, accounts, transactions and sync logs.
-- Money columns are integers of 10^-4 units; dates are YYYY-MM-DD text; timestamps RFC 3339 UTC text.
CREATE TABLE connections (
    id            INTEGER PRIMARY KEY,
    id_user       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    id_connector  INTEGER NOT NULL,
    state         TEXT,
    error_message TEXT,
    fields        TEXT,               -- JSON: the fields the bank asks the user for now
    credentials   BLOB,               -- sealed (AES-256-GCM), see crypto.rs
    last_update   TEXT,
    created       TEXT NOT NULL,
    active        BOOLEAN NOT NULL,
    last_push     TEXT,
    expire        TEXT,               -- end of the PSD2 strong-authentication validity
    next_try      TEXT,
    failures      INTEGER NOT NULL DEFAULT 0  -- retryable failures in a row (back-off)
);
CREATE INDEX connections_user ON connections(id_user);

CREATE TABLE connection_sources (
    id                  INTEGER PRIMARY KEY,
    id_connection       INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    id_connector_source INTEGER NOT NULL,
    name                TEXT NOT NULL,
    priority            INTEGER NOT NULL,
    state               TEXT,
    error_message       TEXT,
    session             BLOB,         -- sealed source-private state (cookies, consents, tokens)
    last_update         TEXT,
    disabled            TEXT,
    created             TEXT NOT NULL,
    access_expire       TEXT,
    expire              TEXT,
    next_try            TEXT,
    UNIQUE (id_connection, id_connector_source)
);

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    id_connection INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    id_user       INTEGER NOT NULL,
    id_source     INTEGER NOT NULL,
    webid         TEXT NOT NULL,
    number        TEXT,
    original_name TEXT NOT NULL,
    name          TEXT,               -- the user's name for it, if they chose one
    balance       BIGINT,
    coming        BIGINT,
    currency      TEXT,
    iban          TEXT,
    bic           TEXT,
    type          TEXT NOT NULL,
    usage         TEXT NOT NULL,
    display       BOOLEAN NOT NULL,
    bookmarked    BOOLEAN NOT NULL,
    error         TEXT,
    last_update   TEXT,
    deleted       TEXT,
    disabled      TEXT,
    created       TEXT NOT NULL,
    UNIQUE (id_connection, webid)
);
CREATE INDEX accounts_user ON accounts(id_user);

CREATE TABLE transactions (
    id                 INTEGER PRIMARY KEY,
    id_account         INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    id_user            INTEGER NOT NULL,
    id_connection      INTEGER NOT NULL,
    webid              TEXT,
    date               TEXT NOT NULL,
    rdate              TEXT NOT NULL,
    vdate              TEXT,
    application_date   TEXT NOT NULL,
    value              BIGINT NOT NULL,
    type               TEXT NOT NULL,
    original_wording   TEXT NOT NULL,
    simplified_wording TEXT NOT NULL,
    wording            TEXT,          -- the user's label, if they set one
    coming             BOOLEAN NOT NULL,
    active             BOOLEAN NOT NULL,
    deleted            TEXT,
    last_update        TEXT NOT NULL,
    date_scraped       TEXT NOT NULL,
    card               TEXT,
    counterparty       TEXT,          -- JSON
    comment            TEXT
);
CREATE INDEX transactions_user_date ON transactions(id_user, date DESC, id DESC);
CREATE INDEX transactions_account_date ON transactions(id_account, date DESC, id DESC);
CREATE INDEX transactions_account_pending ON transactions(id_account) WHERE coming;

CREATE TABLE connection_logs (
    id              INTEGER PRIMARY KEY,
    id_connection   INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    id_user         INTEGER NOT NULL,
    id_connector    INTEGER NOT NULL,
    id_source       INTEGER,
    started         TEXT NOT NULL,
    ended           TEXT NOT NULL,
    state           TEXT,
    error_message   TEXT,
    nb_accounts     INTEGER NOT NULL,
    nb_transactions INTEGER NOT NULL,
    unattended      BOOLEAN NOT NULL  -- no user present: counts against the PSD2 budget
);
CREATE INDEX connection_logs_connection ON connection_logs(id_connection, id DESC);

-- A redirect to a bank's consent page in progress: the `state` the bank echoes back leads here.
CREATE TABLE webauth_requests (
    state         TEXT PRIMARY KEY,
    id_connection INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    id_source     INTEGER NOT NULL,
    bank_url      TEXT NOT NULL,      -- the bank's consent page
    redirect_uri  TEXT,               -- the client app's, set by /webauth-url or /webauth
    client_state  TEXT,
    created       TEXT NOT NULL
);
