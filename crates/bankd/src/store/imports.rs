//! Statement imports: a whole file's accounts, transactions, balances and log row written in one
//! database transaction that stays open while the file is read, so an import is applied entirely
//! or not at all, and its rows go in as they are parsed rather than all at the end.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Sqlite};

use super::accounts::{AccountData, SourceRef, insert_account, refresh_account};
use super::connections::{ConnectionLog, insert_log, seal_json};
use super::outbox::{Event, EventScope, emit};
use super::rows::{TRANSACTION_COLUMNS, Transaction};
use super::sealed::session_aad;
use super::transactions::{AccountRef, SplitChanges, recount_days, write_account_data, write_changes};
use super::{BeginWrite, Db, Store, StoreResult, now};
use crate::crypto::MasterKey;
use crate::domain::bank::BankAccount;
use crate::domain::reconcile::{Change, Stored};

/// An import under way: an open write transaction on either backend. Dropped without
/// [`commit`](Self::commit), everything it wrote is rolled back.
pub struct Import<'s> {
    db: &'s Db,
    tx: WriteTx,
    target: SourceRef,
    at: DateTime<Utc>,
}

enum WriteTx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Pg(sqlx::Transaction<'static, Postgres>),
}

/// Runs `$body` with `$conn` bound to the open transaction's connection, whatever the backend.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            WriteTx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            WriteTx::Pg(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

impl Store {
    /// Opens an import into `target`. Imports into one connection are serialized: SQLite has one
    /// writer at a time, and PostgreSQL locks the connection's row until the import ends, so two
    /// uploads of one file at once cannot both add its rows.
    pub async fn begin_import(&self, target: SourceRef) -> StoreResult<Import<'_>> {
        let tx = match &self.db {
            Db::Sqlite(pool) => WriteTx::Sqlite(pool.begin_write().await?),
            Db::Pg(pool) => {
                let mut tx = pool.begin_write().await?;
                sqlx::query("SELECT id FROM connections WHERE id = $1 FOR UPDATE")
                    .bind(target.id_connection)
                    .execute(&mut *tx)
                    .await?;
                WriteTx::Pg(tx)
            }
        };
        Ok(Import { db: &self.db, tx, target, at: now() })
    }
}

impl Import<'_> {
    /// Creates an account of the import (enabled: uploading a file is the user's consent).
    pub async fn create_account(&mut self, account: &BankAccount) -> StoreResult<i64> {
        let (target, at) = (self.target, self.at);
        let enabled: Option<DateTime<Utc>> = None;
        Ok(on_tx!(&mut self.tx, conn => {
            let id = insert_account!(conn, target, account, enabled, at);
            emit!(conn, &EventScope::account(Event::AccountFound, target.id_user, target.id_connection, id));
            id
        }))
    }

    /// The account's rows with one of these webids (the rows a batch of entries can be).
    pub async fn rows_with_webids(&mut self, id_account: i64, webids: &[&str]) -> StoreResult<Vec<Stored>> {
        let webids = serde_json::to_string(webids).expect("strings serialize");
        let sql = match self.db {
            Db::Sqlite(_) => "webid IN (SELECT value FROM json_each($2))",
            Db::Pg(_) => "webid IN (SELECT json_array_elements_text($2::json))",
        };
        let sql = format!("SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id_account = $1 AND {sql}");
        self.stored(&sql, id_account, Some(webids)).await
    }

    /// The account's live pending rows: any of them may have been booked since, under another webid.
    pub async fn pending_rows(&mut self, id_account: i64) -> StoreResult<Vec<Stored>> {
        let sql = format!(
            "SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id_account = $1 AND coming AND deleted IS NULL"
        );
        self.stored(&sql, id_account, None).await
    }

    async fn stored(&mut self, sql: &str, id_account: i64, webids: Option<String>) -> StoreResult<Vec<Stored>> {
        let rows: Vec<Transaction> = on_tx!(&mut self.tx, conn => {
            let mut query = sqlx::query_as(sql).bind(id_account);
            if let Some(webids) = webids {
                query = query.bind(webids);
            }
            query.fetch_all(conn).await?
        });
        Ok(rows.iter().map(Transaction::to_stored).collect())
    }

    /// Writes reconciled changes of one account.
    pub async fn write(&mut self, id_account: i64, changes: &[Change]) -> StoreResult<()> {
        let split = SplitChanges::new(changes)?;
        let account = self.account_ref(id_account);
        let at = self.at;
        on_tx!(&mut self.tx, conn => write_changes!(conn, account, split, at));
        Ok(())
    }

    /// Ends an account's part of the import: its name, currency and balances as the file gives
    /// them, and its day counts rewritten if `changed`.
    pub async fn finish_account(
        &mut self,
        id_account: i64,
        account: &BankAccount,
        data: &AccountData,
        changed: bool,
    ) -> StoreResult<()> {
        let (id_source, at) = (self.target.id_source, self.at);
        on_tx!(&mut self.tx, conn => {
            refresh_account!(conn, id_account, account, id_source);
            write_account_data!(conn, id_account, data, at);
            if changed {
                recount_days!(conn, id_account);
            }
        });
        Ok(())
    }

    /// Commits the import with the source's new session state and the connection's log row.
    pub async fn commit(
        mut self,
        session: &serde_json::Value,
        log: &ConnectionLog,
        key: &MasterKey,
    ) -> StoreResult<()> {
        let (target, at) = (self.target, self.at);
        let sealed_session = seal_json(key, session, &session_aad(target.id_source));
        on_tx!(&mut self.tx, conn => {
            sqlx::query(
                "UPDATE connections SET state = NULL, error_message = NULL, fields = NULL, last_update = $1,
                        next_try = NULL, failures = 0
                 WHERE id = $2",
            )
            .bind(at)
            .bind(target.id_connection)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE connection_sources SET state = NULL, error_message = NULL, session = $1, last_update = $2
                 WHERE id = $3",
            )
            .bind(sealed_session)
            .bind(at)
            .bind(target.id_source)
            .execute(&mut *conn)
            .await?;
            insert_log!(conn, log);
            let synced = EventScope::connection(Event::ConnectionSynced, target.id_user, target.id_connection);
            emit!(conn, &synced.since(at));
        });
        match self.tx {
            WriteTx::Sqlite(tx) => tx.commit().await?,
            WriteTx::Pg(tx) => tx.commit().await?,
        }
        Ok(())
    }

    fn account_ref(&self, id: i64) -> AccountRef {
        AccountRef { id, id_user: self.target.id_user, id_connection: self.target.id_connection }
    }
}
