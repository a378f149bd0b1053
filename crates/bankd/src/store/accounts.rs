//! Bank accounts: what syncs discover, refresh and archive, and what users enable, rename and hide.

use super::jobs::{Lease, hold_lease};
use super::outbox::{Event, EventScope, emit};
use super::rows::{ACCOUNT_COLUMNS, Account};
use super::{BeginWrite, Bind, Conditions, Store, StoreResult, now, on_db};
use crate::domain::archiving::AccountChange;
use crate::domain::bank::BankAccount;
use crate::domain::money::{MoneyError, to_units};

/// Which accounts a listing shows.
#[derive(Debug, Clone, Copy)]
pub struct AccountScope {
    pub id_user: i64,
    pub id_connection: Option<i64>,
    /// Include archived (deleted) and disabled accounts.
    pub all: bool,
}

/// A user's edit of an account (`None`: leave as is).
#[derive(Debug, Clone, Default)]
pub struct AccountEdit {
    pub name: Option<String>,
    pub display: Option<bool>,
    pub bookmarked: Option<bool>,
    pub usage: Option<String>,
    pub disabled: Option<bool>,
}

/// Where a source's rows land: its connection, user and source row.
#[derive(Debug, Clone, Copy)]
pub struct SourceRef {
    pub id_connection: i64,
    pub id_user: i64,
    pub id_source: i64,
}

/// Creates an account of `$target` (a [`SourceRef`]) inside `$tx` and
/// evaluates to its id; `$disabled`: when, if it waits for the user's consent. Syncs and imports.
macro_rules! insert_account {
    ($tx:ident, $target:expr, $account:expr, $disabled:expr, $at:expr) => {{
        let (target, account): (_, &$crate::domain::bank::BankAccount) = ($target, $account);
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO accounts (id_connection, id_user, id_source, webid, original_name, currency,
                    type, usage, display, bookmarked, disabled, created)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, FALSE, $9, $10) RETURNING id",
        )
        .bind(target.id_connection)
        .bind(target.id_user)
        .bind(target.id_source)
        .bind(&account.webid)
        .bind(&account.name)
        .bind(&account.currency)
        .bind(account.kind)
        .bind(account.usage)
        .bind($disabled)
        .bind($at)
        .fetch_one(&mut *$tx)
        .await?;
        id
    }};
}
pub(super) use insert_account;

/// A known account seen again, inside `$tx`: what its source says of it now, and no longer
/// `deleted`. Syncs and imports alike.
macro_rules! refresh_account {
    ($tx:ident, $id:expr, $account:expr, $id_source:expr) => {{
        let account: &$crate::domain::bank::BankAccount = $account;
        sqlx::query(
            "UPDATE accounts SET original_name = $1, currency = $2, type = $3, id_source = $4, deleted = NULL
             WHERE id = $5",
        )
        .bind(&account.name)
        .bind(&account.currency)
        .bind(account.kind)
        .bind($id_source)
        .bind($id)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(super) use refresh_account;

impl Store {
    pub async fn accounts(&self, scope: AccountScope) -> StoreResult<Vec<Account>> {
        let mut c = Conditions::default();
        c.and("id_user = ?", [Bind::I64(scope.id_user)]);
        if let Some(id) = scope.id_connection {
            c.and("id_connection = ?", [Bind::I64(id)]);
        }
        if !scope.all {
            c.and("deleted IS NULL AND disabled IS NULL", []);
        }
        self.fetch_all(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {} ORDER BY id", c.sql()), &c.binds).await
    }

    /// The currency of each of the user's accounts, archived and disabled ones included: what a
    /// listing of transactions renders their amounts in.
    pub async fn account_currencies(&self, id_user: i64) -> StoreResult<Vec<(i64, Option<String>)>> {
        self.fetch_all("SELECT id, currency FROM accounts WHERE id_user = $1", &[Bind::I64(id_user)]).await
    }

    /// Whether the user has any account at all (Powens answers `noAccount` otherwise).
    pub async fn user_has_accounts(&self, id_user: i64) -> StoreResult<bool> {
        let rows: Vec<(i64,)> =
            self.fetch_all("SELECT id FROM accounts WHERE id_user = $1 LIMIT 1", &[Bind::I64(id_user)]).await?;
        Ok(!rows.is_empty())
    }

    /// One of the user's accounts, archived and disabled ones included.
    pub async fn account(&self, id_user: i64, id: i64) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1 AND id_user = $2");
        Ok(self.fetch_all(&sql, &[Bind::I64(id), Bind::I64(id_user)]).await?.into_iter().next())
    }

    pub async fn accounts_of_connection(&self, id_connection: i64) -> StoreResult<Vec<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id_connection = $1 ORDER BY id");
        let rows = on_db!(&self.db, pool => sqlx::query_as(&sql).bind(id_connection).fetch_all(pool).await?);
        Ok(rows)
    }

    /// Applies the user's edit; enabling or disabling the account announces it
    /// (`ACCOUNT_ENABLED`, `ACCOUNT_DISABLED`).
    pub async fn edit_account(&self, account: &Account, edit: &AccountEdit) -> StoreResult<()> {
        let disabled_at = edit.disabled.map(|disabled| disabled.then(now));
        let toggled = edit.disabled.filter(|disabled| *disabled != account.disabled.is_some());
        on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE accounts SET name = COALESCE($1, name), display = COALESCE($2, display),
                        bookmarked = COALESCE($3, bookmarked), usage = COALESCE($4, usage),
                        disabled = CASE WHEN $5 THEN $6 ELSE disabled END
                 WHERE id = $7",
            )
            .bind(&edit.name)
            .bind(edit.display)
            .bind(edit.bookmarked)
            .bind(&edit.usage)
            .bind(disabled_at.is_some())
            .bind(disabled_at.flatten())
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
            if let Some(disabled) = toggled {
                let event = if disabled { Event::AccountDisabled } else { Event::AccountEnabled };
                emit!(tx, &EventScope::account(event, account.id_user, account.id_connection, account.id));
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Applies archiving decisions for one connection in one transaction. Discovered accounts start
    /// disabled (GDPR consent) and keep only what identifies them — name, type, currency — until
    /// the user enables them: balances, numbers and IBANs of an account nobody consented to are
    /// not stored.
    pub async fn apply_account_changes(
        &self,
        id_connection: i64,
        id_user: i64,
        id_source: i64,
        changes: &[AccountChange<'_>],
        lease: Option<&Lease>,
    ) -> StoreResult<()> {
        let at = now();
        let target = SourceRef { id_connection, id_user, id_source };
        on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            hold_lease!(tx, lease);
            for change in changes {
                match change {
                    AccountChange::Discover(account) => {
                        let id = insert_account!(tx, target, account, Some(at), at);
                        emit!(tx, &EventScope::account(Event::AccountFound, id_user, id_connection, id));
                    }
                    AccountChange::Refresh { id, account } => refresh_account!(tx, id, account, id_source),
                    AccountChange::Archive { id } => {
                        let archived = sqlx::query("UPDATE accounts SET deleted = $1 WHERE id = $2 AND deleted IS NULL")
                            .bind(at)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if archived > 0 {
                            emit!(tx, &EventScope::account(Event::AccountDeleted, id_user, id_connection, *id));
                        }
                    }
                }
            }
            emit!(tx, &EventScope::connection(Event::AccountsFetched, id_user, id_connection));
            tx.commit().await?;
        });
        Ok(())
    }
}

/// The columns a sync writes on an enabled account, money already in stored units.
#[derive(Debug, Clone)]
pub struct AccountData {
    pub balance: i64,
    pub coming: Option<i64>,
    pub number: Option<String>,
    pub iban: Option<String>,
    pub bic: Option<String>,
}

impl AccountData {
    pub fn from_bank(account: &BankAccount) -> Result<AccountData, MoneyError> {
        Ok(AccountData {
            balance: to_units(account.balance)?,
            coming: account.coming.map(to_units).transpose()?,
            number: account.number.clone(),
            iban: account.iban.clone(),
            bic: account.bic.clone(),
        })
    }
}
