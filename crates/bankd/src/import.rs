//! Statement files as a source: an uploaded file (OFX, camt, MT940, QIF, CSV — read by the
//! `statements` crate) becomes accounts and transactions of the user's "Statement files"
//! connection, under the rules of a sync: reconciliation (re-importing adds nothing), one log row,
//! secrets and state sealed like any source's.
//!
//! What a file changes is decided before anything is written, and written in one database
//! transaction: a malformed file, or a failure half-way, leaves the user's data as it was.
//!
//! - **Accounts** are recognised by IBAN, else number, else name and currency (their webid), and
//!   are created enabled: uploading a file is the user's consent. An account missing from a file
//!   is not archived — a file is not a list of all the user's accounts.
//! - **Transactions** are recognised by the bank's reference (`FITID`, `AcctSvcrRef`, the `:61:`
//!   bank reference) with their booking date — some banks reuse references, never on one day for
//!   two operations — else by a fingerprint of (date, amount, wording); either ranked among the
//!   rows of the file that share it, so an overlapping file finds the same rows again while two
//!   identical coffees on one day stay two.
//! - **The balance** is the closing balance of the newest statement seen: an older file imported
//!   later does not roll it back (the source's state remembers each account's balance date). A
//!   format without balances (QIF, CSV) moves the balance by what the file added.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, Read};

use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use statements::{BalanceKind, Event, Format};

use crate::catalog::{Catalog, Connector};
use crate::crypto::MasterKey;
use crate::domain::bank::{BankAccount, BankTransaction, Counterparty};
use crate::domain::money::{from_units, to_units};
use crate::domain::reconcile::{Change, reconcile};
use crate::sources::Credentials;
use crate::sources::psd2::mapping::transaction_type;
use crate::store::accounts::{Account, AccountData};
use crate::store::connections::{Connection, ConnectionLog};
use crate::store::imports::{ImportTarget, ImportedAccount};
use crate::store::{Store, StoreError, now};

/// What an import needs besides the file.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `None`: detected from the file's first bytes.
    pub format: Option<Format>,
    pub parse: statements::Options,
    /// The user's Statement-files connection to import into; `None`: their first one, created
    /// at the first import.
    pub id_connection: Option<i64>,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct Imported {
    pub connection: Connection,
    /// The accounts the file is about, in file order.
    pub accounts: Vec<i64>,
    pub format: Format,
    pub statements: usize,
    /// Transactions added, updated (e.g. a pending one now booked) and already there as they are.
    pub added: i64,
    pub updated: i64,
    pub unchanged: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Invalid(#[from] statements::Error),
    #[error("the file's format is not recognised: give it (ofx, camt, mt940, qif or csv)")]
    UnknownFormat,
    #[error("connection {0} is not a statement-files connection of this user")]
    NotAStatementConnection(i64),
    #[error("the catalog has no statement-files connector")]
    NoConnector,
    #[error("amount out of range: {0}")]
    Amount(String),
    #[error("reading the file: {0}")]
    Read(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The source's memory between imports (sealed like any source state).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Memory {
    /// The date of the closing balance each account (by webid) has now.
    balance_dates: BTreeMap<String, NaiveDate>,
}

/// Imports one file for `id_user`.
pub async fn import(
    store: &Store,
    catalog: &Catalog,
    key: &MasterKey,
    id_user: i64,
    file: impl Read + Send + 'static,
    options: ImportOptions,
) -> Result<Imported, ImportError> {
    let connector = statement_connector(catalog).ok_or(ImportError::NoConnector)?;
    let parse = options.parse.clone();
    let format = options.format;
    let started = now();
    let mut parsed = tokio::task::spawn_blocking(move || read(file, format, &parse))
        .await
        .map_err(|e| ImportError::Read(e.to_string()))??;
    let connection = target_connection(store, key, connector, id_user, options.id_connection).await?;
    let sources = store.connection_sources(connection.id).await?;
    let source = sources.first().ok_or(ImportError::NotAStatementConnection(connection.id))?;
    let mut memory: Memory = serde_json::from_value(store.source_session(source.id, key).await?).unwrap_or_default();
    let known = store.accounts_of_connection(connection.id).await?;

    let bank_accounts: Vec<BankAccount> = parsed.accounts.iter().map(ParsedAccount::bank_account).collect();
    let mut imported = Vec::with_capacity(bank_accounts.len());
    let (mut added, mut updated, mut entries) = (0, 0, 0);
    for (parsed, account) in parsed.accounts.iter_mut().zip(&bank_accounts) {
        let existing = known.iter().find(|a| a.webid == account.webid);
        let fetched = parsed.transactions();
        entries += fetched.len() as i64;
        let since = fetched.iter().map(|t| t.date).min();
        let stored = match existing {
            Some(a) => store.transactions_to_reconcile(a.id, since).await?,
            None => Vec::new(),
        };
        let changes = reconcile(&stored, fetched);
        added += changes.iter().filter(|c| matches!(c, Change::Insert(_))).count() as i64;
        updated += changes.iter().filter(|c| matches!(c, Change::Update { .. })).count() as i64;
        let balance = parsed.balance(account, existing, &changes, &mut memory);
        let data = AccountData {
            balance: to_units(balance).map_err(|e| ImportError::Amount(e.to_string()))?,
            coming: None,
            number: account.number.clone(),
            iban: account.iban.clone(),
            bic: account.bic.clone(),
        };
        imported.push(ImportedAccount { id: existing.map(|a| a.id), account, data, changes });
    }
    let log = ConnectionLog {
        id: 0,
        id_connection: connection.id,
        id_user,
        id_connector: connector.id,
        id_source: Some(source.id),
        started,
        ended: now(),
        state: None,
        error_message: None,
        nb_accounts: bank_accounts.len() as i64,
        nb_transactions: entries,
        unattended: false,
    };
    let target = ImportTarget { id_connection: connection.id, id_user, id_source: source.id };
    let session = serde_json::to_value(&memory).map_err(|e| ImportError::Read(e.to_string()))?;
    let accounts = store.apply_import(&target, imported, &session, &log, key).await?;
    let connection = store.connection(id_user, connection.id).await?.unwrap_or(connection);
    Ok(Imported {
        connection,
        accounts,
        format: parsed.format,
        statements: parsed.statements,
        added,
        updated,
        unchanged: entries - added - updated,
    })
}

/// A CSV mapping as a user writes it (the API's `csv` field, `bankd import --csv`), in JSON:
/// `{"delimiter": ";", "decimal_comma": true, "date_format": "%d/%m/%Y", "date": "Date",
/// "amount": "Montant"}` — a column is its header name or its index from 0; `debit` and `credit`
/// replace `amount`; `wording` lists columns; `value_date`, `payee`, `reference`, `currency`,
/// `skip_lines` and `has_header` (default true) are optional.
pub fn csv_mapping(json: &str) -> Result<statements::csv::Mapping, String> {
    use statements::csv::{AmountColumns, Column, Mapping};
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Spec {
        Index(usize),
        Name(String),
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Written {
        #[serde(default = "comma")]
        delimiter: String,
        #[serde(default)]
        decimal_comma: bool,
        #[serde(default = "day_first")]
        date_format: String,
        #[serde(default)]
        skip_lines: usize,
        #[serde(default = "yes")]
        has_header: bool,
        date: Spec,
        value_date: Option<Spec>,
        amount: Option<Spec>,
        debit: Option<Spec>,
        credit: Option<Spec>,
        #[serde(default)]
        wording: Vec<Spec>,
        payee: Option<Spec>,
        reference: Option<Spec>,
        currency: Option<Spec>,
    }
    fn comma() -> String {
        ",".into()
    }
    fn day_first() -> String {
        "%d/%m/%Y".into()
    }
    fn yes() -> bool {
        true
    }
    let column = |spec: Spec| match spec {
        Spec::Index(i) => Column::Index(i),
        Spec::Name(name) => Column::Name(name),
    };
    let written: Written = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let delimiter = match written.delimiter.as_bytes() {
        [byte] if byte.is_ascii() => *byte,
        _ => return Err("delimiter must be one ASCII character".into()),
    };
    let amount = match (written.amount, written.debit, written.credit) {
        (Some(amount), None, None) => AmountColumns::Amount(column(amount)),
        (None, Some(debit), Some(credit)) => {
            AmountColumns::DebitCredit { debit: column(debit), credit: column(credit) }
        }
        _ => return Err("give either amount, or debit and credit".into()),
    };
    Ok(Mapping {
        delimiter,
        decimal_comma: written.decimal_comma,
        date_format: written.date_format,
        skip_lines: written.skip_lines,
        has_header: written.has_header,
        date: column(written.date),
        value_date: written.value_date.map(column),
        amount,
        wording: written.wording.into_iter().map(column).collect(),
        payee: written.payee.map(column),
        reference: written.reference.map(column),
        currency: written.currency.map(column),
    })
}

/// The catalog's connector for statement files: its sources are all `file`.
pub fn statement_connector(catalog: &Catalog) -> Option<&Connector> {
    catalog.connectors.iter().find(|c| c.is_passive())
}

/// The connection to import into: the one named (it must be the user's, and of statement files),
/// else the user's first statement-files connection, created at the first import.
async fn target_connection(
    store: &Store,
    key: &MasterKey,
    connector: &Connector,
    id_user: i64,
    id_connection: Option<i64>,
) -> Result<Connection, ImportError> {
    if let Some(id) = id_connection {
        return match store.connection(id_user, id).await? {
            Some(c) if c.id_connector == connector.id => Ok(c),
            _ => Err(ImportError::NotAStatementConnection(id)),
        };
    }
    let connections = store.connections_of_user(id_user, true).await?;
    if let Some(connection) = connections.into_iter().find(|c| c.id_connector == connector.id) {
        return Ok(connection);
    }
    let id = store.create_connection(id_user, connector, &Credentials::default(), key).await?;
    store.connection(id_user, id).await?.ok_or(ImportError::NotAStatementConnection(id))
}

// ---- Reading the file ----

/// A file's statements, grouped by account.
struct Parsed {
    format: Format,
    statements: usize,
    accounts: Vec<ParsedAccount>,
}

#[derive(Default, Clone)]
struct ParsedAccount {
    account: statements::Account,
    /// The newest closing balance of its statements in the file, with its date.
    closing: Option<(Decimal, Option<NaiveDate>)>,
    entries: Vec<statements::Entry>,
}

/// Reads the whole file (format detected from its head unless given) into accounts.
fn read(file: impl Read, format: Option<Format>, options: &statements::Options) -> Result<Parsed, ImportError> {
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let format = match format {
        Some(format) => format,
        None => {
            let head = std::io::BufRead::fill_buf(&mut reader).map_err(|e| ImportError::Read(e.to_string()))?;
            statements::detect(head).ok_or(ImportError::UnknownFormat)?
        }
    };
    let mut parsed = Parsed { format, statements: 0, accounts: Vec::new() };
    let mut current: Option<usize> = None;
    statements::parse(format, reader, options, &mut |event| match event {
        Event::Statement(account) => {
            parsed.statements += 1;
            current = Some(parsed.group(account));
        }
        Event::Balance(balance) => {
            let index = *current.get_or_insert_with(|| parsed.group(statements::Account::default()));
            parsed.accounts[index].keep_balance(&balance);
        }
        Event::Entry(entry) => {
            let index = *current.get_or_insert_with(|| parsed.group(statements::Account::default()));
            parsed.accounts[index].entries.push(entry);
        }
    })?;
    Ok(parsed)
}

impl Parsed {
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
                self.accounts.push(ParsedAccount { account, ..ParsedAccount::default() });
                self.accounts.len() - 1
            }
        }
    }
}

/// How an account is recognised from one file to the next: IBAN, else number, else name and
/// currency (a format that names none of them has one account per file, named "Statement").
fn identity(account: &statements::Account) -> String {
    let clean = |text: &str| text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
    match (&account.iban, &account.number, &account.name) {
        (Some(iban), _, _) => clean(iban),
        (None, Some(number), _) => clean(number),
        (None, None, name) => {
            let currency = account.currency.as_deref().unwrap_or("");
            format!("{}:{currency}", name.as_deref().unwrap_or("Statement").trim())
        }
    }
}

impl ParsedAccount {
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

    fn currency(&self) -> String {
        let from_entries = self.entries.iter().find_map(|e| e.currency.clone());
        self.account.currency.clone().or(from_entries).unwrap_or_else(|| "EUR".into())
    }

    fn bank_account(&self) -> BankAccount {
        let account = &self.account;
        let webid = identity(account);
        let name = account.name.clone().or(account.iban.clone()).or(account.number.clone());
        BankAccount {
            name: name.unwrap_or_else(|| "Statement".into()),
            number: account.number.clone(),
            iban: account.iban.clone(),
            bic: account.bic.clone(),
            kind: if account.card { "card" } else { "checking" },
            currency: self.currency(),
            balance: Decimal::ZERO,
            coming: None,
            usage: "PRIV",
            webid,
        }
    }

    /// The entries as transactions (taken: the entries are not kept), each with its webid.
    fn transactions(&mut self) -> Vec<BankTransaction> {
        let mut ranks: HashMap<String, usize> = HashMap::new();
        let mut rank = |key: String| {
            let n = ranks.entry(key.clone()).or_default();
            *n += 1;
            if *n == 1 { key } else { format!("{key}#{n}") }
        };
        std::mem::take(&mut self.entries)
            .iter()
            .map(|e| {
                let webid = match &e.reference {
                    Some(reference) => rank(format!("{}:{reference}", e.booking_date)),
                    None => rank(format!("fp-{}", fingerprint(e))),
                };
                bank_transaction(e, webid)
            })
            .collect()
    }

    /// The account's balance after the import (see the module's doc).
    fn balance(
        &self,
        account: &BankAccount,
        existing: Option<&Account>,
        changes: &[Change],
        memory: &mut Memory,
    ) -> Decimal {
        let current = existing.and_then(|a| a.balance).map(from_units).unwrap_or_default();
        match self.closing {
            Some((amount, date)) => {
                let known = memory.balance_dates.get(&account.webid).copied();
                let date = date.unwrap_or_else(|| Utc::now().date_naive());
                if known.is_none_or(|known| date >= known) || existing.is_none() {
                    memory.balance_dates.insert(account.webid.clone(), date);
                    amount
                } else {
                    current
                }
            }
            None => {
                let added: Decimal =
                    changes.iter().filter_map(|c| if let Change::Insert(t) = c { Some(t.value) } else { None }).sum();
                current + added
            }
        }
    }
}

/// What identifies an entry without a reference: its date, amount and wording.
fn fingerprint(entry: &statements::Entry) -> String {
    let text = format!("{}|{}|{}", entry.booking_date, entry.amount.normalize(), entry.wording.trim());
    Sha256::digest(text).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn bank_transaction(entry: &statements::Entry, webid: String) -> BankTransaction {
    let wording =
        if entry.wording.trim().is_empty() { entry.payee.clone().unwrap_or_default() } else { entry.wording.clone() };
    let outgoing = entry.amount.is_sign_negative();
    let counterparty = entry.payee.as_ref().map(|label| Counterparty {
        label: label.clone(),
        account_scheme_name: entry.counterparty_account.as_ref().map(|_| "iban".to_owned()),
        account_identification: entry.counterparty_account.clone(),
        kind: if outgoing { "creditor" } else { "debtor" },
    });
    BankTransaction {
        webid: Some(webid),
        date: entry.booking_date,
        rdate: entry.booking_date,
        vdate: entry.value_date,
        value: entry.amount,
        original_wording: wording.trim().to_owned(),
        kind: kind(entry.kind.as_deref()),
        coming: entry.pending,
        card: None,
        counterparty,
    }
}

/// The Powens transaction type of a format's own code: ISO 20022 bank transaction codes (camt),
/// OFX `TRNTYPE`s and SWIFT transaction type codes (MT940 `:61:`).
fn kind(code: Option<&str>) -> &'static str {
    let Some(code) = code else { return "unknown" };
    if code.contains('-') {
        return transaction_type(Some(code));
    }
    match code.trim().to_ascii_uppercase().as_str() {
        "POS" | "DEBIT" => "card",
        "ATM" | "CASH" => "withdrawal",
        "CHECK" | "NCHK" | "FCHK" => "check",
        "XFER" | "DIRECTDEP" | "NTRF" | "FTRF" | "STRF" => "transfer",
        "DIRECTDEBIT" | "REPEATPMT" | "NDDT" | "FDDT" | "NSTO" | "FSTO" => "order",
        "FEE" | "SRVCHG" | "INT" | "DIV" | "NCHG" | "FCHG" | "NINT" | "FINT" => "bank",
        "DEP" | "NCOL" => "deposit",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn entry(day: u32, amount: Decimal, wording: &str, reference: Option<&str>) -> statements::Entry {
        statements::Entry {
            booking_date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            amount,
            wording: wording.into(),
            reference: reference.map(str::to_owned),
            ..statements::Entry::default()
        }
    }

    #[test]
    fn webids_are_references_or_ranked_fingerprints() {
        let account = ParsedAccount {
            entries: vec![
                entry(3, dec!(-3.50), "CAFE", None),
                entry(3, dec!(-3.50), "CAFE", None),
                entry(3, dec!(-3.50), "CAFE", Some("R1")),
                entry(4, dec!(-3.50), "CAFE", Some("R1")),
                entry(4, dec!(-3.5), "CAFE", None),
                entry(4, dec!(-9), "TEA", Some("R1")),
            ],
            ..ParsedAccount::default()
        };
        let webids: Vec<String> = account.clone().transactions().into_iter().map(|t| t.webid.unwrap()).collect();
        assert!(webids[0].starts_with("fp-") && webids[1] == format!("{}#2", webids[0]), "{webids:?}");
        assert_eq!(&webids[2..4], ["2026-11-03:R1", "2026-11-04:R1"], "a reference is a day's");
        assert!(webids[4].starts_with("fp-") && webids[4] != webids[0], "another day, another fingerprint");
        assert_eq!(webids[5], "2026-11-04:R1#2", "a reference repeated on one day is ranked");
        // The same entries give the same webids on every import.
        let again: Vec<String> = account.clone().transactions().into_iter().map(|t| t.webid.unwrap()).collect();
        assert_eq!(webids, again);
    }

    #[test]
    fn accounts_are_recognised_by_iban_then_number_then_name_and_currency() {
        let account = |iban: Option<&str>, number: Option<&str>, name: Option<&str>| statements::Account {
            iban: iban.map(str::to_owned),
            number: number.map(str::to_owned),
            name: name.map(str::to_owned),
            currency: Some("EUR".into()),
            ..statements::Account::default()
        };
        assert_eq!(identity(&account(Some("fr76 3000 6000"), Some("1"), None)), "FR7630006000");
        assert_eq!(identity(&account(None, Some("12 345"), Some("x"))), "12345");
        assert_eq!(identity(&account(None, None, Some(" Joint "))), "Joint:EUR");
        assert_eq!(identity(&statements::Account::default()), "Statement:");
    }

    #[test]
    fn csv_mappings_are_written_in_json() {
        use statements::csv::{AmountColumns, Column};
        let mapping = csv_mapping(
            r#"{"delimiter": ";", "decimal_comma": true, "date": "Date", "debit": 3, "credit": 4,
            "wording": ["Libellé", 2]}"#,
        )
        .unwrap();
        assert_eq!((mapping.delimiter, mapping.date_format.as_str(), mapping.has_header), (b';', "%d/%m/%Y", true));
        assert_eq!(mapping.amount, AmountColumns::DebitCredit { debit: Column::Index(3), credit: Column::Index(4) });
        assert_eq!(mapping.wording, [Column::Name("Libellé".into()), Column::Index(2)]);
        assert!(csv_mapping(r#"{"date": 0}"#).unwrap_err().contains("amount"));
        assert!(csv_mapping(r#"{"date": 0, "amount": 1, "delimiter": ";;"}"#).unwrap_err().contains("delimiter"));
        assert!(csv_mapping(r#"{"date": 0, "amount": 1, "colour": 2}"#).unwrap_err().contains("colour"));
    }

    #[test]
    fn format_codes_map_to_transaction_types() {
        let cases = [
            (Some("POS"), "card"),
            (Some("ATM"), "withdrawal"),
            (Some("NTRF"), "transfer"),
            (Some("NDDT"), "order"),
            (Some("PMNT-CCRD-POSD"), "card"),
            (Some("SRVCHG"), "bank"),
            (Some("OTHER"), "unknown"),
            (None, "unknown"),
        ];
        for (code, expected) in cases {
            assert_eq!(kind(code), expected, "{code:?}");
        }
    }

    #[test]
    fn an_older_closing_balance_does_not_roll_the_balance_back() {
        let newer = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        let mut memory = Memory::default();
        memory.balance_dates.insert("FR76".into(), newer);
        let mut older = ParsedAccount {
            closing: Some((dec!(10), NaiveDate::from_ymd_opt(2026, 9, 30))),
            ..ParsedAccount::default()
        };
        let mut account = older.bank_account();
        account.webid = "FR76".into();
        let stored = Account {
            id: 1,
            id_connection: 1,
            id_user: 1,
            id_source: 1,
            webid: "FR76".into(),
            number: None,
            original_name: "x".into(),
            name: None,
            balance: Some(420_000),
            coming: None,
            currency: Some("EUR".into()),
            iban: None,
            bic: None,
            kind: "checking".into(),
            usage: "PRIV".into(),
            display: true,
            bookmarked: false,
            error: None,
            last_update: None,
            deleted: None,
            disabled: None,
            created: Utc::now(),
        };
        assert_eq!(older.balance(&account, Some(&stored), &[], &mut memory), dec!(42));
        older.closing = Some((dec!(11), NaiveDate::from_ymd_opt(2026, 11, 30)));
        assert_eq!(older.balance(&account, Some(&stored), &[], &mut memory), dec!(11));
        assert_eq!(memory.balance_dates["FR76"], NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        // Without balances, the file's new rows move it.
        let plain = ParsedAccount::default();
        let inserted = [Change::Insert(bank_transaction(&entry(5, dec!(-2), "X", None), "w".into()))];
        assert_eq!(plain.balance(&account, Some(&stored), &inserted, &mut memory), dec!(40));
    }
}
