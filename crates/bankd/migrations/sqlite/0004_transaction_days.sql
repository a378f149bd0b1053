-- How many live (not deleted) transactions each account has per (date, application_date): the
-- listing's `total`, `first_date`, `last_date` and deep `offset`s read these few rows instead of
-- counting the transactions themselves. Rewritten by the store in the same database transaction as
-- the rows it counts (store/transactions.rs, `recount_days`).
CREATE TABLE transaction_days (
    id_account       INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    id_user          INTEGER NOT NULL,
    id_connection    INTEGER NOT NULL,
    date             TEXT NOT NULL,
    application_date TEXT NOT NULL,
    n                INTEGER NOT NULL,
    PRIMARY KEY (id_account, date, application_date)
) WITHOUT ROWID; -- the key covers the account's reads
-- Covering: a user's or a connection's sums never read the table.
CREATE INDEX transaction_days_user ON transaction_days(id_user, date, application_date, n);
CREATE INDEX transaction_days_connection ON transaction_days(id_connection, date, application_date, n);

INSERT INTO transaction_days (id_account, id_user, id_connection, date, application_date, n)
SELECT id_account, id_user, id_connection, date, application_date, COUNT(*)
FROM transactions WHERE deleted IS NULL
GROUP BY id_account, id_user, id_connection, date, application_date;

-- The same counts summed per account: an unbounded listing's `total` and bounds read one row per
-- account. Rewritten with `transaction_days`.
CREATE TABLE transaction_totals (
    id_account    INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    id_user       INTEGER NOT NULL,
    id_connection INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    first_date    TEXT NOT NULL,
    last_date     TEXT NOT NULL
);
CREATE INDEX transaction_totals_user ON transaction_totals(id_user);
CREATE INDEX transaction_totals_connection ON transaction_totals(id_connection);

INSERT INTO transaction_totals (id_account, id_user, id_connection, n, first_date, last_date)
SELECT id_account, id_user, id_connection, SUM(n), MIN(date), MAX(date)
FROM transaction_days GROUP BY id_account, id_user, id_connection;

-- A connection's listing pages through its own index, as the user's and the account's do.
CREATE INDEX transactions_connection_date ON transactions(id_connection, date DESC, id DESC);
