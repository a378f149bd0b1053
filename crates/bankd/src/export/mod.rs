//! Statement exports: an account's booked transactions as OFX 2.2, camt.053.001.08, CSV, beancount
//! or ledger, for the tools people keep their accounts in.
//!
//! Streamed: the rows are read a page at a time in `(date, id)` order and written in chunks to a
//! channel (the HTTP body, or the terminal for `bankd export`), so an account of a million rows
//! exports in the memory of one page. A statement states its opening and closing balances before
//! its entries (camt and beancount want them first), so they are worked out first from the
//! account's balance and two sums ([`Store::booked_sums`]): the closing balance is today's minus
//! what was booked after the window, the opening one the closing minus what the window holds.
//! Pending transactions are not in statements.

mod formats;

use bytes::Bytes;
use chrono::NaiveDate;
use tokio::sync::mpsc;

use crate::catalog::Catalog;
use crate::store::rows::{Account, Transaction};
use crate::store::transactions::DateWindow;
use crate::store::{Store, StoreResult};
use crate::wire::CurrencyView;

/// Rows read at once.
const PAGE: i64 = 5_000;
/// Bytes gathered before a chunk goes out.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ofx,
    Camt053,
    Csv,
    Beancount,
    Ledger,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "ofx" => Format::Ofx,
            "camt053" | "camt.053" | "camt" => Format::Camt053,
            "csv" => Format::Csv,
            "beancount" => Format::Beancount,
            "ledger" => Format::Ledger,
            _ => return None,
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Ofx => "application/x-ofx",
            Format::Camt053 => "application/xml",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Beancount | Format::Ledger => "text/plain; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Ofx => "ofx",
            Format::Camt053 => "xml",
            Format::Csv => "csv",
            Format::Beancount => "beancount",
            Format::Ledger => "ledger",
        }
    }

    /// Whether one file can hold several accounts (a CSV row names none).
    pub fn holds_several_accounts(self) -> bool {
        self != Format::Csv
    }
}

/// What a statement says before its entries.
#[derive(Debug, Clone)]
pub struct Statement {
    pub account: Account,
    pub bank: String,
    pub currency: CurrencyView,
    /// The first and last day it covers.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Booked balances at the start of `from` and the end of `to`, in 10⁻⁴ units.
    pub opening: i64,
    pub closing: i64,
    /// The account's name in a plain-text ledger (`Assets:Bank:<Bank>:<Account>`), unique in the file.
    pub ledger_account: String,
}

/// The statements of `accounts` over `window`, in order.
pub async fn statements(
    store: &Store,
    catalog: &Catalog,
    accounts: Vec<(Account, i64)>,
    window: &DateWindow,
) -> StoreResult<Vec<Statement>> {
    let today = crate::store::now().date_naive();
    let mut statements: Vec<Statement> = Vec::new();
    for (account, id_connector) in accounts {
        let sums = store.booked_sums(account.id, window).await?;
        let closing = account.balance.unwrap_or(0) - sums.after;
        let bank = catalog.connector(id_connector).map_or_else(|| "Bank".to_owned(), |c| c.name.clone());
        let mut ledger_account =
            formats::ledger_account(&bank, account.name.as_deref().unwrap_or(&account.original_name));
        if statements.iter().any(|s| s.ledger_account == ledger_account) {
            ledger_account = format!("{ledger_account}-{}", account.id);
        }
        let from = window.from.or(sums.first).unwrap_or(today);
        let to = window.until.and_then(|until| until.pred_opt()).or(sums.last).unwrap_or(today).max(from);
        statements.push(Statement {
            currency: CurrencyView::of(account.currency.as_deref().unwrap_or("EUR")),
            account,
            bank,
            from,
            to,
            opening: closing - sums.within,
            closing,
            ledger_account,
        });
    }
    Ok(statements)
}

/// Writes `statements` in `format` to `out`, chunk by chunk, reading their rows from `store` a
/// page at a time. Stops early, quietly, when the reader goes away.
pub async fn write(
    store: &Store,
    format: Format,
    statements: &[Statement],
    window: &DateWindow,
    out: mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> StoreResult<()> {
    let mut writer = formats::writer(format);
    let mut text = String::with_capacity(CHUNK * 2);
    writer.begin(&mut text, statements);
    for statement in statements {
        writer.statement_start(&mut text, statement);
        let mut after = None;
        loop {
            let page: Vec<Transaction> =
                store.transactions_between(statement.account.id, window, false, after, PAGE).await?;
            for transaction in &page {
                writer.entry(&mut text, statement, transaction);
                if text.len() >= CHUNK && !send(&out, &mut text).await {
                    return Ok(());
                }
            }
            match page.last() {
                Some(last) if page.len() as i64 == PAGE => after = Some((last.date, last.id)),
                _ => break,
            }
        }
        writer.statement_end(&mut text, statement);
    }
    writer.end(&mut text, statements);
    send(&out, &mut text).await;
    Ok(())
}

/// Sends what was written; false when nobody reads any more.
async fn send(out: &mpsc::Sender<Result<Bytes, std::io::Error>>, text: &mut String) -> bool {
    let chunk = Bytes::from(std::mem::take(text).into_bytes());
    out.send(Ok(chunk)).await.is_ok()
}
