//! The rows the API, the webhooks' snapshots and the syncs read: a user, a connection, an account,
//! a transaction, each with the column list that selects it. They live apart from the modules that
//! write them so that those modules and the outbox, which snapshots them inside the writers'
//! transactions, both depend on this one and not on each other.

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::bank::{BankTransaction, Counterparty, TRANSACTION_TYPES};
use crate::domain::money::from_units;
use crate::domain::reconcile::Stored;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub id: i64,
    pub id_client: Option<i64>,
    pub signin: DateTime<Utc>,
    pub platform: String,
}

pub(crate) const USER_COLUMNS: &str = "id, id_client, signin, platform";

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct Connection {
    pub id: i64,
    pub id_user: i64,
    pub id_connector: i64,
    pub state: Option<String>,
    pub error_message: Option<String>,
    /// JSON list of the fields the bank asks for now.
    pub fields: Option<String>,
    pub last_update: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub active: bool,
    pub last_push: Option<DateTime<Utc>>,
    pub expire: Option<DateTime<Utc>>,
    pub next_try: Option<DateTime<Utc>>,
    /// Retryable failures in a row (back-off).
    pub failures: i64,
}

pub(crate) const CONNECTION_COLUMNS: &str = "id, id_user, id_connector, state, error_message, fields, last_update, created, active, \
     last_push, expire, next_try, failures";

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub id: i64,
    pub id_connection: i64,
    pub id_user: i64,
    pub id_source: i64,
    pub webid: String,
    pub number: Option<String>,
    pub original_name: String,
    /// The user's name for it, if they chose one.
    pub name: Option<String>,
    /// 10⁻⁴ units.
    pub balance: Option<i64>,
    pub coming: Option<i64>,
    pub currency: Option<String>,
    pub iban: Option<String>,
    pub bic: Option<String>,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub usage: String,
    pub display: bool,
    pub bookmarked: bool,
    pub error: Option<String>,
    pub last_update: Option<DateTime<Utc>>,
    pub deleted: Option<DateTime<Utc>>,
    pub disabled: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
}

pub(crate) const ACCOUNT_COLUMNS: &str = "id, id_connection, id_user, id_source, webid, number, original_name, name, balance, \
     coming, currency, iban, bic, type, usage, display, bookmarked, error, last_update, deleted, disabled, created";

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct Transaction {
    pub id: i64,
    pub id_account: i64,
    pub id_user: i64,
    pub id_connection: i64,
    pub webid: Option<String>,
    pub date: NaiveDate,
    pub rdate: NaiveDate,
    pub vdate: Option<NaiveDate>,
    pub application_date: NaiveDate,
    /// 10⁻⁴ units.
    pub value: i64,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub original_wording: String,
    pub simplified_wording: String,
    /// The user's label, if they set one.
    pub wording: Option<String>,
    pub coming: bool,
    pub active: bool,
    pub deleted: Option<DateTime<Utc>>,
    pub last_update: DateTime<Utc>,
    pub date_scraped: DateTime<Utc>,
    pub card: Option<String>,
    /// JSON `{label, account_scheme_name, account_identification, type}`.
    pub counterparty: Option<String>,
    pub comment: Option<String>,
}

pub(crate) const TRANSACTION_COLUMNS: &str = "id, id_account, id_user, id_connection, webid, date, rdate, vdate, application_date, \
     value, type, original_wording, simplified_wording, wording, coming, active, deleted, last_update, date_scraped, \
     card, counterparty, comment";

impl Transaction {
    /// The row as reconciliation compares it.
    pub fn to_stored(&self) -> Stored {
        Stored { id: self.id, deleted: self.deleted.is_some(), bank: self.to_bank() }
    }

    /// The row as the bank last described it (for reconciliation).
    pub fn to_bank(&self) -> BankTransaction {
        BankTransaction {
            webid: self.webid.clone(),
            date: self.date,
            rdate: self.rdate,
            vdate: self.vdate,
            value: from_units(self.value),
            original_wording: self.original_wording.clone(),
            kind: TRANSACTION_TYPES.iter().copied().find(|k| *k == self.kind).unwrap_or("unknown"),
            coming: self.coming,
            card: self.card.clone(),
            counterparty: self.counterparty.as_deref().and_then(parse_counterparty),
        }
    }
}

pub fn parse_counterparty(json: &str) -> Option<Counterparty> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    Some(Counterparty {
        label: text("label")?,
        account_scheme_name: text("account_scheme_name"),
        account_identification: text("account_identification"),
        kind: if text("type").as_deref() == Some("creditor") { "creditor" } else { "debtor" },
    })
}
