-- Balance history: an account's balance as each sync or statement import of the day left it (the
-- latest of the day wins). Written with the account's balance, in the same transaction, so a
-- disabled account (which stores no balance) has no history either.
CREATE TABLE account_balances (
    id_account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    date       TEXT NOT NULL,      -- YYYY-MM-DD, the UTC day of the write
    balance    BIGINT NOT NULL,    -- 10^-4 units
    coming     BIGINT,
    currency   TEXT,
    PRIMARY KEY (id_account, date)
) WITHOUT ROWID; -- the key covers the history's reads
