-- The bank directory the operator imports (`bankd catalog import-aspsps`): banks behind a PSD2 hub,
-- each reached through a catalog profile at its own base URL. An import replaces every row.
CREATE TABLE directory_banks (
    bank_key  TEXT PRIMARY KEY,   -- country/bank code, else country/bic/BIC: what identifies the bank
    name      TEXT NOT NULL,
    bic       TEXT,
    country   TEXT NOT NULL,
    bank_code TEXT,
    base_url  TEXT NOT NULL,
    profile   TEXT NOT NULL,
    position  BIGINT NOT NULL,    -- the row's place in the file, so connectors list in its order
    imported  TEXT NOT NULL
);

-- The connector id of each bank the directory has listed: kept, so that a bank keeps its id across
-- restarts and imports (connections refer to connectors by id). Never deleted: an id is not given to
-- another bank.
CREATE TABLE directory_connectors (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,   -- the connector's id is 1000000 + seq
    bank_key TEXT NOT NULL UNIQUE
);
