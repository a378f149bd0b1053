-- Finds an account's rows by webid: a statement import matches each batch of a file's entries
-- with the stored rows of the same webids, whatever dates the batch spans (files are not always
-- in date order), so its memory and time do not grow with the account's history.
CREATE INDEX transactions_account_webid ON transactions(id_account, webid);
