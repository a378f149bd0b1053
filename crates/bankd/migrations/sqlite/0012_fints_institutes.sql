-- The FinTS institute list the operator imports (`bankd catalog import-fints`): where each German
-- bank code's FinTS PIN/TAN server is. An import replaces every row; bankd ships no copy of the list.
CREATE TABLE fints_institutes (
    bank_code     TEXT PRIMARY KEY,   -- the 8-digit Bankleitzahl
    bic           TEXT,
    name          TEXT NOT NULL,
    city          TEXT,
    pintan_url    TEXT NOT NULL,
    fints_version TEXT,
    imported      TEXT NOT NULL
);
