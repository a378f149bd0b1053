//! Statement imports: a whole file's accounts, transactions, balances and log row in one database
//! transaction, so an import is applied entirely or not at all.

use super::accounts::{AccountData, REFRESH_ACCOUNT};
use super::connections::{ConnectionLog, insert_log, seal_json, session_aad};
use super::transactions::{AccountRef, SplitChanges, write_account_sync};
use super::{BeginWrite, Store, StoreResult, now, on_db};
use crate::crypto::MasterKey;
use crate::domain::bank::BankAccount;
use crate::domain::reconcile::Change;

/// One account of an imported file, with what reconciliation decided for its transactions.
pub struct ImportedAccount<'a> {
    /// The stored account it is, if it is known already.
    pub id: Option<i64>,
    pub account: &'a BankAccount,
    pub data: AccountData,
    pub changes: Vec<Change>,
}

/// Where an import lands: the connection, and its statement-files source row.
pub struct ImportTarget {
    pub id_connection: i64,
    pub id_user: i64,
    pub id_source: i64,
}

impl Store {
    /// Writes an import: each account created (enabled: uploading a file is the user's consent)
    /// or refreshed, its balances and transaction changes, the source's new session state, and
    /// the connection's log row. Returns the accounts' ids, in the order given.
    pub async fn apply_import(
        &self,
        target: &ImportTarget,
        accounts: Vec<ImportedAccount<'_>>,
        session: &serde_json::Value,
        log: &ConnectionLog,
        key: &MasterKey,
    ) -> StoreResult<Vec<i64>> {
        let at = now();
        let sealed_session = seal_json(key, session, &session_aad(target.id_source));
        let ids = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let mut ids = Vec::with_capacity(accounts.len());
            // Each account's rows are bound, then its reconciled changes dropped: one copy at a time.
            for imported in accounts {
                let split = SplitChanges::new(&imported.changes)?;
                drop(imported.changes);
                let account = imported.account;
                let id = match imported.id {
                    Some(id) => {
                        sqlx::query(REFRESH_ACCOUNT)
                        .bind(&account.name)
                        .bind(&account.currency)
                        .bind(account.kind)
                        .bind(target.id_source)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                        id
                    }
                    None => {
                        let (id,): (i64,) = sqlx::query_as(
                            "INSERT INTO accounts (id_connection, id_user, id_source, webid, original_name, currency,
                                    type, usage, display, bookmarked, created)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, FALSE, $9) RETURNING id",
                        )
                        .bind(target.id_connection)
                        .bind(target.id_user)
                        .bind(target.id_source)
                        .bind(&account.webid)
                        .bind(&account.name)
                        .bind(&account.currency)
                        .bind(account.kind)
                        .bind(account.usage)
                        .bind(at)
                        .fetch_one(&mut *tx)
                        .await?;
                        id
                    }
                };
                let reference = AccountRef { id, id_user: target.id_user, id_connection: target.id_connection };
                write_account_sync!(&self.db, tx, reference, &imported.data, split, at);
                ids.push(id);
            }
            sqlx::query(
                "UPDATE connections SET state = NULL, error_message = NULL, fields = NULL, last_update = $1,
                        next_try = NULL, failures = 0
                 WHERE id = $2",
            )
            .bind(at)
            .bind(target.id_connection)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE connection_sources SET state = NULL, error_message = NULL, session = $1, last_update = $2
                 WHERE id = $3",
            )
            .bind(sealed_session)
            .bind(at)
            .bind(target.id_source)
            .execute(&mut *tx)
            .await?;
            insert_log!(tx, log);
            tx.commit().await?;
            ids
        });
        Ok(ids)
    }
}
