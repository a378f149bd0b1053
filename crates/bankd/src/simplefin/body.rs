//! SimpleFIN's JSON, as its clients parse it: every string a string (amounts too, with exactly the
//! currency's decimals), times as Unix seconds, lists always present, no `null` where a client
//! expects a value.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog::Connector;
use crate::domain::money;
use crate::domain::states::{ConnectionState, NextMove};
use crate::state::AppState;
use crate::store::StoreResult;
use crate::store::accounts::AccountScope;
use crate::store::rows::{Account, Transaction, parse_counterparty};
use crate::store::transactions::DateWindow;
use crate::wire::CurrencyView;

/// What `GET /accounts` asks for.
#[derive(Debug, Default, PartialEq)]
pub struct Window {
    /// Transactions dated on or after this day (`start-date`, inclusive).
    pub from: Option<NaiveDate>,
    /// Transactions dated before this day (`end-date`, exclusive).
    pub until: Option<NaiveDate>,
    pub pending: bool,
    /// Only these accounts (`account=`, repeatable).
    pub accounts: Vec<String>,
    pub balances_only: bool,
}

impl Window {
    pub fn parse(query: &str) -> Result<Window, String> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|e| format!("malformed query string: {e}"))?;
        let mut window = Window::default();
        for (key, value) in pairs {
            match key.as_str() {
                "start-date" => window.from = Some(day_from(&key, &value)?),
                "end-date" => window.until = Some(day_from(&key, &value)?),
                "pending" => window.pending = value == "1",
                "balances-only" => window.balances_only = value == "1",
                "account" => window.accounts.push(value),
                _ => {}
            }
        }
        Ok(window)
    }
}

/// The first day whose midnight (UTC) is at or after `seconds`: a transaction is "posted" at its
/// day's midnight, so `posted >= start` and `posted < end` are day comparisons with these bounds.
fn day_from(key: &str, value: &str) -> Result<NaiveDate, String> {
    let seconds: i64 = value.trim().parse().map_err(|_| format!("{key}: expected Unix seconds, got '{value}'"))?;
    let days = seconds.div_euclid(86_400) + i64::from(seconds.rem_euclid(86_400) > 0);
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(days)))
        .ok_or_else(|| format!("{key}: out of range"))
}

fn seconds(day: NaiveDate) -> i64 {
    day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()
}

#[derive(Debug, Serialize)]
pub struct AccountSet {
    pub errors: Vec<String>,
    pub accounts: Vec<AccountBody>,
}

#[derive(Debug, Serialize)]
pub struct Org {
    pub domain: String,
    pub name: String,
    #[serde(rename = "sfin-url")]
    pub sfin_url: String,
    pub id: String,
}

#[derive(Debug, Serialize)]
pub struct AccountBody {
    pub org: Org,
    pub id: String,
    pub name: String,
    pub currency: String,
    pub balance: String,
    #[serde(rename = "available-balance")]
    pub available_balance: String,
    #[serde(rename = "balance-date")]
    pub balance_date: i64,
    pub transactions: Vec<TransactionBody>,
    pub holdings: Vec<Value>,
}

#[derive(Debug, Serialize)]
pub struct TransactionBody {
    /// bankd's id: a pending transaction keeps it when the bank books it.
    pub id: String,
    /// Its day's midnight (UTC); 0 while pending.
    pub posted: i64,
    pub amount: String,
    pub description: String,
    pub payee: String,
    pub memo: String,
    /// The day of the operation (the card payment, say), else the booking day.
    pub transacted_at: i64,
    pub pending: bool,
    pub extra: Map<String, Value>,
}

/// The user's enabled, present accounts with what the window asks, and the connections the person
/// must repair.
pub async fn account_set(state: &AppState, id_user: i64, window: &Window) -> StoreResult<AccountSet> {
    let connections = state.store.connections_of_user(id_user, true).await?;
    let mut errors = Vec::new();
    for connection in connections.iter().filter(|c| c.active) {
        let state_now = connection.state.as_deref().and_then(ConnectionState::parse);
        if state_now.is_some_and(|s| s.next_move() == NextMove::User) {
            let name = state.catalog.connector(connection.id_connector).map_or("your bank", |c| c.name.as_str());
            errors.push(format!("Connection to {name} may need attention"));
        }
    }
    let scope = AccountScope { id_user, id_connection: None, all: false };
    let mut accounts = Vec::new();
    for account in state.store.accounts(scope).await? {
        if !window.accounts.is_empty() && !window.accounts.contains(&account.id.to_string()) {
            continue;
        }
        let transactions = if window.balances_only {
            Vec::new()
        } else {
            let dates = DateWindow { from: window.from, until: window.until };
            state.store.transactions_between(account.id, &dates, window.pending, None, i64::MAX).await?
        };
        let id_connector = connections.iter().find(|c| c.id == account.id_connection).map(|c| c.id_connector);
        let connector = id_connector.and_then(|id| state.catalog.connector(id));
        accounts.push(account_body(state, connector, &account, &transactions));
    }
    Ok(AccountSet { errors, accounts })
}

fn account_body(
    state: &AppState,
    connector: Option<&Connector>,
    account: &Account,
    transactions: &[Transaction],
) -> AccountBody {
    let currency = CurrencyView::of(account.currency.as_deref().unwrap_or("EUR"));
    let balance = account.balance.unwrap_or(0);
    let updated: DateTime<Utc> = account.last_update.unwrap_or(account.created);
    AccountBody {
        org: Org {
            domain: connector.and_then(|c| c.slug.clone()).unwrap_or_else(|| "bankd".into()),
            name: connector.map_or_else(|| "bankd".into(), |c| c.name.clone()),
            sfin_url: format!("{}/simplefin", state.public_url),
            id: connector.map_or_else(|| "bankd".into(), |c| c.uuid.to_string()),
        },
        id: account.id.to_string(),
        name: account.name.clone().unwrap_or_else(|| account.original_name.clone()),
        balance: amount(balance, &currency),
        available_balance: amount(balance + account.coming.unwrap_or(0), &currency),
        currency: currency.id.clone(),
        balance_date: updated.timestamp(),
        transactions: transactions.iter().map(|t| transaction_body(t, &currency)).collect(),
        holdings: Vec::new(),
    }
}

fn transaction_body(t: &Transaction, currency: &CurrencyView) -> TransactionBody {
    let counterparty = t.counterparty.as_deref().and_then(parse_counterparty);
    let mut extra = Map::new();
    extra.insert("type".into(), t.kind.clone().into());
    if let Some(iban) = counterparty.as_ref().and_then(|c| c.account_identification.clone()) {
        extra.insert("counterparty_iban".into(), iban.into());
    }
    if let Some(card) = &t.card {
        extra.insert("card".into(), card.clone().into());
    }
    TransactionBody {
        id: t.id.to_string(),
        posted: if t.coming { 0 } else { seconds(t.date) },
        amount: amount(t.value, currency),
        description: t.wording.clone().unwrap_or_else(|| t.simplified_wording.clone()),
        payee: counterparty.map_or_else(|| t.simplified_wording.clone(), |c| c.label),
        memo: t.original_wording.clone(),
        transacted_at: seconds(t.rdate),
        pending: t.coming,
        extra,
    }
}

/// 10⁻⁴ units as a decimal string with exactly the currency's minor digits (`"-12.30"` in EUR).
fn amount(units: i64, currency: &CurrencyView) -> String {
    money::units_text(units, currency.precision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_read_as_simplefin_defines_it() {
        let window = Window::parse("start-date=1733270400&end-date=1733356801&pending=1&account=3&account=7").unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2024, 12, d).unwrap();
        assert_eq!(window.from, Some(day(4)), "midnight exactly: that day is in");
        assert_eq!(window.until, Some(day(6)), "a second past midnight of the 5th: the 5th is before the end");
        assert!(window.pending && !window.balances_only);
        assert_eq!(window.accounts, ["3", "7"]);
        assert_eq!(Window::parse("start-date=1733270401").unwrap().from, Some(day(5)));
        assert!(Window::parse("start-date=yesterday").unwrap_err().contains("start-date"));
        assert_eq!(Window::parse("").unwrap(), Window::default());
    }
}
