-- bankd's registration with a PSD2 bank's authorization server (RFC 7591 dynamic client
-- registration, `bankd psd2 register`), one per catalog source. The client id is no secret; the
-- client secret, the registration access token and the registration's URI are sealed together.
CREATE TABLE psd2_registrations (
    id         BIGINT PRIMARY KEY,    -- the catalog source's id
    client_id  TEXT NOT NULL,
    secret     BYTEA NOT NULL,        -- sealed (AES-256-GCM), see crypto.rs
    registered TIMESTAMPTZ NOT NULL,
    updated    TIMESTAMPTZ NOT NULL
);
