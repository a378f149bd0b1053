//! The writing half of an import: events from the parser are grouped by account, turned into
//! transactions with their webids, reconciled against the stored rows of the same webids and the
//! account's pending rows, and written
//! a batch at a time inside the import's one database transaction.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use statements::{BalanceKind, Event, Format, Warnings};

use super::mapping::identity;
use super::{ImportError, Imported};
use crate::catalog::Connector;
use crate::crypto::MasterKey;
use crate::domain::bank::{BankAccount, BankTransaction};
use crate::domain::money::{from_units, to_units};
use crate::domain::reconcile::{Change, Stored, reconcile};
use crate::sources::entries::{Webids, bank_transaction};
use crate::store::accounts::AccountData;
use crate::store::accounts::SourceRef;
use crate::store::connections::{ConnectionLog, LogWarning, LogWarnings};
use crate::store::imports::Import;
use crate::store::rows::{Account, Connection};
use crate::store::{Store, now};

/// Entries of one account reconciled and written at once: large enough for few round trips,
/// small enough that a batch (and the stored rows it matches) weighs a few megabytes.
const BATCH_ENTRIES: usize = 10_000;

/// The source's memory between imports (sealed like any source state).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Memory {
    /// The date of the closing balance each account (by webid) has now.
    balance_dates: BTreeMap<String, NaiveDate>,
}

pub(super) struct Writer<'s> {
    import: Import<'s>,
    key: &'s MasterKey,
    id_connector: i64,
    target: SourceRef,
    started: DateTime<Utc>,
    /// The connection's accounts before the import.
    known: Vec<Account>,
    memory: Memory,
    /// The file's accounts, in the order it names them.
    accounts: Vec<FileAccount>,
    current: Option<usize>,
    statements: usize,
    warnings: Warnings,
}

/// What a committed import did (see [`Imported`]).
pub(super) struct Summary {
    accounts: Vec<i64>,
    format: Format,
    statements: usize,
    entries: i64,
    added: i64,
    updated: i64,
    warnings: Warnings,
}

impl Summary {
    pub(super) fn into_imported(self, connection: Connection) -> Imported {
        Imported {
            connection,
            accounts: self.accounts,
            format: self.format,
            statements: self.statements,
            added: self.added,
            updated: self.updated,
            unchanged: self.entries - self.added - self.updated,
            warnings: self.warnings,
        }
    }
}

/// One account of the file, as far as it has been read.
#[derive(Default)]
struct FileAccount {
    account: statements::Account,
    /// The currency of its first entry that names one (for a statement that does not).
    entry_currency: Option<String>,
    /// The newest closing balance of its statements in the file, with its date.
    closing: Option<(Decimal, Option<NaiveDate>)>,
    /// Entries read and not yet written.
    unwritten: Vec<statements::Entry>,
    webids: Webids,
    stored: Option<StoredAccount>,
    /// The dates its entries span.
    dates: Option<(NaiveDate, NaiveDate)>,
    entries: i64,
    added: i64,
    updated: i64,
    /// The sum of the transactions added (the balance of a file without balances moves by it).
    added_value: Decimal,
}

/// The row an account of the file is written to.
struct StoredAccount {
    id: i64,
    /// Made by this import (its balance is the file's whatever the date, and no row of it
    /// predates the import).
    created: bool,
    /// Its balance before the import, in 10⁻⁴ units.
    balance: Option<i64>,
    /// Its live pending rows before the import that no entry of the file has matched yet.
    pending: Vec<Stored>,
}

impl<'s> Writer<'s> {
    pub(super) async fn begin(
        store: &'s Store,
        key: &'s MasterKey,
        connector: &Connector,
        target: SourceRef,
    ) -> Result<Writer<'s>, ImportError> {
        let started = now();
        // Read once the import holds the connection, so a concurrent import's rows are seen.
        let import = store.begin_import(target).await?;
        let known = store.accounts_of_connection(target.id_connection).await?;
        let memory = serde_json::from_value(store.source_session(target.id_source, key).await?).unwrap_or_default();
        Ok(Writer {
            import,
            key,
            id_connector: connector.id,
            target,
            started,
            known,
            memory,
            accounts: Vec::new(),
            current: None,
            statements: 0,
            warnings: Warnings::default(),
        })
    }

    /// Takes a chunk of the parser's events, writing an account's entries once a batch is read.
    pub(super) async fn take(&mut self, events: Vec<Event>) -> Result<(), ImportError> {
        for event in events {
            match event {
                Event::Statement(account) => {
                    self.statements += 1;
                    self.current = Some(self.group(account));
                }
                Event::Balance(balance) => {
                    let index = self.current_account();
                    self.accounts[index].keep_balance(&balance);
                }
                Event::Entry(entry) => {
                    let index = self.current_account();
                    let account = &mut self.accounts[index];
                    if account.entry_currency.is_none() {
                        account.entry_currency.clone_from(&entry.currency);
                    }
                    account.unwritten.push(entry);
                    if account.unwritten.len() >= BATCH_ENTRIES {
                        self.write_batch(index).await?;
                    }
                }
                Event::Warning(warning) => self.warnings.push(warning),
            }
        }
        Ok(())
    }

    /// Writes what is left, ends each account (balances, vanished pending rows), and commits
    /// with the log row and the source's memory.
    pub(super) async fn commit(mut self, format: Format) -> Result<Summary, ImportError> {
        let mut ids = Vec::with_capacity(self.accounts.len());
        for index in 0..self.accounts.len() {
            self.write_batch(index).await?;
            ids.push(self.finish_account(index).await?);
        }
        let entries = self.accounts.iter().map(|a| a.entries).sum();
        let log = ConnectionLog {
            id: 0,
            id_connection: self.target.id_connection,
            id_user: self.target.id_user,
            id_connector: self.id_connector,
            id_source: Some(self.target.id_source),
            started: self.started,
            ended: now(),
            state: None,
            error_message: None,
            nb_accounts: ids.len() as i64,
            nb_transactions: entries,
            unattended: false,
            warnings: log_warnings(&self.warnings).to_column(),
        };
        let session = serde_json::to_value(&self.memory).map_err(|e| ImportError::Read(e.to_string()))?;
        let summary = Summary {
            format,
            statements: self.statements,
            entries,
            added: self.accounts.iter().map(|a| a.added).sum(),
            updated: self.accounts.iter().map(|a| a.updated).sum(),
            accounts: ids,
            warnings: std::mem::take(&mut self.warnings),
        };
        self.import.commit(&session, &log, self.key).await?;
        Ok(summary)
    }

    /// The index of the account a statement is about: statements of one account in one file
    /// (monthly statements in a yearly export, say) are one account.
    fn group(&mut self, account: statements::Account) -> usize {
        let key = identity(&account);
        match self.accounts.iter().position(|a| identity(&a.account) == key) {
            Some(index) => {
                let known = &mut self.accounts[index].account;
                known.currency = known.currency.take().or(account.currency);
                known.bic = known.bic.take().or(account.bic);
                index
            }
            None => {
                self.accounts.push(FileAccount { account, ..FileAccount::default() });
                self.accounts.len() - 1
            }
        }
    }

    /// The account of the statement being read; a format without statements (QIF, CSV) has one.
    fn current_account(&mut self) -> usize {
        match self.current {
            Some(index) => index,
            None => {
                let index = self.group(statements::Account::default());
                self.current = Some(index);
                index
            }
        }
    }

    /// Reconciles and writes the account's unwritten entries. Stored pending rows vanished from
    /// the file are judged at its end, once every entry has had its chance to match them.
    async fn write_batch(&mut self, index: usize) -> Result<(), ImportError> {
        self.store_account(index).await?;
        let account = &mut self.accounts[index];
        let entries = std::mem::take(&mut account.unwritten);
        let Some((from, to)) = date_span(entries.iter().map(|e| e.booking_date)) else { return Ok(()) };
        account.dates = date_span(account.dates.into_iter().flat_map(|(a, b)| [a, b]).chain([from, to]));
        let fetched: Vec<BankTransaction> =
            entries.iter().map(|entry| bank_transaction(entry, account.webids.next(entry))).collect();
        drop(entries);
        let Some(stored_account) = account.stored.as_mut() else { unreachable!("stored just above") };
        let mut stored = match stored_account.created {
            // Rows of this file never match each other: their webids differ.
            true => Vec::new(),
            false => {
                let webids: Vec<&str> = fetched.iter().filter_map(|t| t.webid.as_deref()).collect();
                self.import.rows_with_webids(stored_account.id, &webids).await?
            }
        };
        let pending: HashSet<i64> = stored_account.pending.iter().map(|row| row.id).collect();
        stored.retain(|row| !pending.contains(&row.id));
        stored.extend(stored_account.pending.iter().cloned());
        account.entries += fetched.len() as i64;
        let mut changes = reconcile(&stored, fetched);
        drop(stored);
        changes.retain(|change| !matches!(change, Change::Delete { .. }));
        for change in &changes {
            match change {
                Change::Insert(transaction) => {
                    account.added += 1;
                    account.added_value += transaction.value;
                }
                Change::Update { id, .. } => {
                    account.updated += 1;
                    stored_account.pending.retain(|row| row.id != *id);
                }
                Change::Delete { .. } => {}
            }
        }
        self.import.write(stored_account.id, &changes).await?;
        Ok(())
    }

    /// Finds the account's row among the connection's, or creates it, at its first batch.
    async fn store_account(&mut self, index: usize) -> Result<(), ImportError> {
        let account = &mut self.accounts[index];
        if account.stored.is_some() {
            return Ok(());
        }
        let bank = account.bank_account();
        account.stored = Some(match self.known.iter().find(|a| a.webid == bank.webid) {
            Some(known) => StoredAccount {
                id: known.id,
                created: false,
                balance: known.balance,
                pending: self.import.pending_rows(known.id).await?,
            },
            None => {
                let id = self.import.create_account(&bank).await?;
                StoredAccount { id, created: true, balance: None, pending: Vec::new() }
            }
        });
        Ok(())
    }

    /// Ends an account: its stored pending rows dated within the file's span that no entry
    /// matched are gone (the bank no longer lists them), and its name and balance are the file's.
    async fn finish_account(&mut self, index: usize) -> Result<i64, ImportError> {
        self.store_account(index).await?;
        let account = &self.accounts[index];
        let bank = account.bank_account();
        let Some(stored) = &account.stored else { unreachable!("stored just above") };
        let vanished: Vec<Change> = match account.dates {
            Some((from, to)) => stored
                .pending
                .iter()
                .filter(|row| (from..=to).contains(&row.bank.date))
                .map(|row| Change::Delete { id: row.id })
                .collect(),
            None => Vec::new(),
        };
        self.import.write(stored.id, &vanished).await?;
        let balance = account.balance(&bank.webid, &mut self.memory);
        let data = AccountData {
            balance: to_units(balance).map_err(|e| ImportError::Amount(e.to_string()))?,
            coming: None,
            number: bank.number.clone(),
            iban: bank.iban.clone(),
            bic: bank.bic.clone(),
        };
        let changed = account.added + account.updated > 0 || !vanished.is_empty();
        self.import.finish_account(stored.id, &bank, &data, changed).await?;
        Ok(stored.id)
    }
}

/// The warnings as the log row keeps them.
fn log_warnings(warnings: &Warnings) -> LogWarnings {
    LogWarnings {
        warnings: warnings
            .kept()
            .iter()
            .map(|w| LogWarning { location: w.location.clone(), what: w.what.clone(), assumed: w.assumed.clone() })
            .collect(),
        omitted: warnings.omitted(),
    }
}

/// The first and last of some dates.
fn date_span(dates: impl Iterator<Item = NaiveDate>) -> Option<(NaiveDate, NaiveDate)> {
    dates.fold(None, |span, date| match span {
        None => Some((date, date)),
        Some((from, to)) => Some((from.min(date), to.max(date))),
    })
}

impl FileAccount {
    fn keep_balance(&mut self, balance: &statements::Balance) {
        if balance.kind != BalanceKind::Closing {
            return;
        }
        let newer = match self.closing {
            Some((_, date)) => balance.date >= date,
            None => true,
        };
        if newer {
            self.closing = Some((balance.amount, balance.date));
        }
    }

    fn bank_account(&self) -> BankAccount {
        let account = &self.account;
        let name = account.name.clone().or(account.iban.clone()).or(account.number.clone());
        let currency = account.currency.clone().or(self.entry_currency.clone());
        BankAccount {
            name: name.unwrap_or_else(|| "Statement".into()),
            number: account.number.clone(),
            iban: account.iban.clone(),
            bic: account.bic.clone(),
            kind: if account.card { "card" } else { "checking" },
            currency: currency.unwrap_or_else(|| "EUR".into()),
            balance: Decimal::ZERO,
            coming: None,
            usage: "PRIV",
            webid: identity(account),
        }
    }

    /// The account's balance after the import (see the module's doc).
    fn balance(&self, webid: &str, memory: &mut Memory) -> Decimal {
        let (current, created) = match &self.stored {
            Some(stored) => (stored.balance.map(from_units).unwrap_or_default(), stored.created),
            None => (Decimal::ZERO, true),
        };
        let Some((amount, date)) = self.closing else { return current + self.added_value };
        let known = memory.balance_dates.get(webid).copied();
        let date = date.unwrap_or_else(|| Utc::now().date_naive());
        if created || known.is_none_or(|known| date >= known) {
            memory.balance_dates.insert(webid.to_owned(), date);
            amount
        } else {
            current
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn known(balance: i64) -> Option<StoredAccount> {
        Some(StoredAccount { id: 1, created: false, balance: Some(balance), pending: Vec::new() })
    }

    #[test]
    fn an_older_closing_balance_does_not_roll_the_balance_back() {
        let day = |month, day| NaiveDate::from_ymd_opt(2026, month, day);
        let mut memory = Memory::default();
        memory.balance_dates.insert("FR76".into(), day(10, 31).unwrap());
        let mut older =
            FileAccount { closing: Some((dec!(10), day(9, 30))), stored: known(420_000), ..Default::default() };
        assert_eq!(older.balance("FR76", &mut memory), dec!(42));
        older.closing = Some((dec!(11), day(11, 30)));
        assert_eq!(older.balance("FR76", &mut memory), dec!(11));
        assert_eq!(memory.balance_dates["FR76"], day(11, 30).unwrap());
        // A new account takes the file's balance whatever its date.
        let created = StoredAccount { id: 2, created: true, balance: None, pending: Vec::new() };
        let new = FileAccount { closing: Some((dec!(5), day(1, 31))), stored: Some(created), ..Default::default() };
        assert_eq!(new.balance("FR76", &mut memory), dec!(5));
    }

    #[test]
    fn without_balances_the_file_moves_the_balance_by_what_it_added() {
        let plain = FileAccount { added_value: dec!(-2), stored: known(420_000), ..Default::default() };
        assert_eq!(plain.balance("X", &mut Memory::default()), dec!(40));
    }

    #[test]
    fn date_spans_cover_every_date() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        assert_eq!(date_span([day(5), day(2), day(9)].into_iter()), Some((day(2), day(9))));
        assert_eq!(date_span(std::iter::empty()), None);
    }
}
