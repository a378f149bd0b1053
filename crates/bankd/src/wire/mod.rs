//! The Powens wire format, in a room of its own: the JSON views Powens clients parse (here), the
//! error envelope ([`error`]) and how request values are read ([`params`]). The API renders with
//! it, the webhooks' payloads too (so a body means the same in both), and the webview reads its
//! forms with it. It
//! depends on nothing above the store: views are made from the store's rows and the catalog.
//!
//! The views are kept apart from the store's models so the wire format stays Powens-compatible
//! whatever the models become.
//!
//! An optional field that Powens' SDKs refuse as `null` (pybudgea's models: not nullable, not
//! required) is left out when it has no value, as Powens' files allow: `skip_serializing_if`.
//!
//! Datetimes go out as naive `YYYY-MM-DD HH:MM:SS` in the API time zone (Europe/Paris by default,
//! as Powens integrators expect); the store keeps UTC.

pub mod error;
pub mod params;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::catalog::{Connector, ConnectorSource, Field};
use crate::domain::bank::AccountType;
use crate::domain::money;
use crate::store::balances::DayBalance;
use crate::store::connections::{ConnectionLog, ConnectionSource, LogWarning};
use crate::store::rows::{Account, Connection, Transaction, User, parse_counterparty};
use error::{ApiError, ApiResult};

const DATETIME: &str = "%Y-%m-%d %H:%M:%S";

/// Converts between stored UTC instants and the API's naive local datetimes.
#[derive(Debug, Clone, Copy)]
pub struct ApiClock {
    pub tz: Tz,
}

impl ApiClock {
    pub fn datetime(&self, at: DateTime<Utc>) -> String {
        // By hand: chrono's `format` parses its pattern on every call, which showed in listings' profiles.
        let local = at.with_timezone(&self.tz).naive_local();
        let (date, time) = (local.date(), local.time());
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            date.year(),
            date.month(),
            date.day(),
            time.hour(),
            time.minute(),
            time.second()
        )
    }

    pub fn opt_datetime(&self, at: Option<DateTime<Utc>>) -> Option<String> {
        at.map(|at| self.datetime(at))
    }

    /// Reads a query bound: `YYYY-MM-DD HH:MM:SS` (API zone), `YYYY-MM-DD` (its midnight), or RFC 3339.
    pub fn parse_datetime(&self, field: &str, text: &str) -> ApiResult<DateTime<Utc>> {
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(at.with_timezone(&Utc));
        }
        let naive = NaiveDateTime::parse_from_str(text, DATETIME)
            .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(Default::default())))
            .map_err(|_| ApiError::invalid(field, "expected YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"))?;
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Ok(at.with_timezone(&Utc)),
            // In a spring-forward gap: the instant the clocks jumped to.
            LocalResult::None => Ok(Utc.from_utc_datetime(&naive) - self.tz.offset_from_utc_datetime(&naive).fix()),
        }
    }
}

/// `GET /users/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    /// When the user was created.
    #[schema(example = "2026-11-25 18:08:16")]
    pub signin: String,
    pub platform: String,
}

impl UserView {
    pub fn new(user: &User, clock: &ApiClock) -> Self {
        UserView { id: user.id, signin: clock.datetime(user.signin), platform: user.platform.clone() }
    }
}

/// A currency as Powens describes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CurrencyView {
    /// ISO 4217 code.
    pub id: String,
    pub name: String,
    pub symbol: String,
    /// Decimals amounts carry.
    pub precision: u32,
    /// Whether the symbol goes before the amount.
    pub prefix: bool,
}

impl CurrencyView {
    pub fn of(code: &str) -> CurrencyView {
        let (name, symbol, precision, prefix) = match code {
            "EUR" => ("Euro", "€", 2, false),
            "USD" => ("US Dollar", "$", 2, true),
            "GBP" => ("Pound sterling", "£", 2, true),
            "CHF" => ("Swiss franc", "CHF", 2, false),
            "JPY" => ("Yen", "¥", 0, true),
            "KWD" => ("Kuwaiti dinar", "KD", 3, false),
            other => (other, other, 2, false),
        };
        CurrencyView { id: code.to_owned(), name: name.into(), symbol: symbol.into(), precision, prefix }
    }
}

/// An amount as a JSON number with the currency's decimals at most.
pub fn amount(units: Option<i64>, currency: &CurrencyView) -> Option<Decimal> {
    units.map(|u| money::round_to(money::from_units(u), currency.precision).normalize())
}

/// A credential field (`ConnectorField` / the connection's `fields`).
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldView {
    pub name: String,
    pub label: String,
    /// `text`, `password`, `list`, `date` or `number`.
    pub r#type: &'static str,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    pub values: Option<Vec<FieldValueView>>,
    /// The value used when none is given (Powens' legacy `value`): a list's preselected entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Names of the sources that need this field.
    pub connector_sources: Vec<String>,
    pub auth_mechanisms: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldValueView {
    pub label: String,
    pub value: String,
}

impl FieldView {
    pub fn new(field: &Field, connector: Option<&Connector>) -> FieldView {
        FieldView {
            name: field.name.clone(),
            label: field.label.clone(),
            r#type: field.kind.as_str(),
            required: field.required,
            regex: field.regex.clone(),
            values: field.values.as_ref().map(|values| {
                values.iter().map(|v| FieldValueView { label: v.label.clone(), value: v.value.clone() }).collect()
            }),
            value: field.default.clone(),
            connector_sources: connector
                .map(|c| c.sources.iter().map(|s| s.name.clone()).collect())
                .unwrap_or_default(),
            auth_mechanisms: vec![connector.map_or("credentials", |c| c.auth_mechanism.as_str()).to_owned()],
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorSourceView {
    pub id: i64,
    pub id_connector: i64,
    /// `openapi`, `directaccess`, `fallback` or `file`.
    pub name: String,
    /// Sources are tried in this order, lowest first.
    pub priority: i64,
    /// Set when the source must not be used.
    pub disabled: Option<String>,
    pub auth_mechanism: String,
    pub available_auth_mechanisms: Vec<String>,
    pub account_usages: Vec<String>,
}

impl ConnectorSourceView {
    pub fn new(connector: &Connector, source: &ConnectorSource, clock: &ApiClock) -> Self {
        let mechanism = connector.source_auth_mechanism(source).to_owned();
        ConnectorSourceView {
            id: source.id,
            id_connector: connector.id,
            name: source.name.clone(),
            priority: source.priority,
            disabled: clock.opt_datetime(source.disabled),
            available_auth_mechanisms: vec![mechanism.clone()],
            auth_mechanism: mechanism,
            account_usages: vec!["PRIV".into()],
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountryView {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorView {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub hidden: bool,
    pub charged: bool,
    pub code: Option<String>,
    pub beta: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// Days between background syncs.
    pub sync_periodicity: Option<f64>,
    pub months_to_fetch: Option<i64>,
    /// `credentials` or `webauth`.
    pub auth_mechanism: String,
    pub available_auth_mechanisms: Vec<String>,
    pub restricted: bool,
    pub capabilities: Vec<String>,
    pub account_usages: Vec<String>,
    pub products: Vec<String>,
    pub fields: Vec<FieldView>,
    pub sources: Vec<ConnectorSourceView>,
    pub countries: Vec<CountryView>,
    pub urls: Vec<String>,
}

impl ConnectorView {
    pub fn new(c: &Connector, clock: &ApiClock) -> Self {
        ConnectorView {
            id: c.id,
            uuid: c.uuid,
            name: c.name.clone(),
            hidden: c.hidden,
            charged: false,
            code: c.code.clone(),
            beta: c.beta,
            color: c.color.clone(),
            slug: c.slug.clone(),
            sync_periodicity: Some(c.sync_periodicity),
            months_to_fetch: c.months_to_fetch,
            auth_mechanism: c.auth_mechanism.clone(),
            available_auth_mechanisms: vec![c.auth_mechanism.clone()],
            restricted: false,
            capabilities: c.capabilities.clone(),
            account_usages: vec!["PRIV".into()],
            products: vec!["bank".into()],
            fields: c.fields.iter().map(|f| FieldView::new(f, Some(c))).collect(),
            sources: c.sources.iter().map(|s| ConnectorSourceView::new(c, s, clock)).collect(),
            countries: c.countries.iter().map(|id| CountryView { id: id.clone(), name: country_name(id) }).collect(),
            urls: Vec::new(),
        }
    }
}

fn country_name(code: &str) -> String {
    match code {
        "FR" => "France",
        "DE" => "Germany",
        "ES" => "Spain",
        "IT" => "Italy",
        "BE" => "Belgium",
        "NL" => "Netherlands",
        "GB" => "United Kingdom",
        other => other,
    }
    .to_owned()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    pub id: i64,
    pub id_user: i64,
    pub id_connector: i64,
    pub connector_uuid: Uuid,
    /// `null` when healthy; else what blocks the connection.
    pub state: Option<String>,
    /// Deprecated copy of `state`.
    pub error: Option<String>,
    pub error_message: Option<String>,
    /// What the user must fill in now, when `state` asks for it.
    pub fields: Option<Vec<FieldView>>,
    /// Last successful sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update: Option<String>,
    pub created: String,
    pub active: bool,
    pub last_push: Option<String>,
    /// End of the strong authentication's validity (PSD2: 180 days).
    pub expire: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_try: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<ConnectorView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<ConnectionSourceView>>,
}

impl ConnectionView {
    pub fn new(c: &Connection, connector: Option<&Connector>, clock: &ApiClock) -> Self {
        let fields: Option<Vec<Field>> = c.fields.as_deref().and_then(|json| serde_json::from_str(json).ok());
        ConnectionView {
            id: c.id,
            id_user: c.id_user,
            id_connector: c.id_connector,
            connector_uuid: connector.map(|c| c.uuid).unwrap_or_default(),
            state: c.state.clone(),
            error: c.state.clone(),
            error_message: c.error_message.clone(),
            fields: fields.map(|fields| fields.iter().map(|f| FieldView::new(f, connector)).collect()),
            last_update: clock.opt_datetime(c.last_update),
            created: clock.datetime(c.created),
            active: c.active,
            last_push: clock.opt_datetime(c.last_push),
            expire: clock.opt_datetime(c.expire),
            next_try: clock.opt_datetime(c.next_try),
            connector: None,
            sources: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionSourceView {
    pub id: i64,
    pub id_connection: i64,
    pub id_connector_source: i64,
    pub name: String,
    pub state: Option<String>,
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update: Option<String>,
    pub disabled: Option<String>,
    pub created: String,
    /// End of the bank consent's validity, when known.
    pub access_expire: Option<String>,
    pub expire: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_try: Option<String>,
    pub priority: i64,
}

impl ConnectionSourceView {
    pub fn new(s: &ConnectionSource, clock: &ApiClock) -> Self {
        ConnectionSourceView {
            id: s.id,
            id_connection: s.id_connection,
            id_connector_source: s.id_connector_source,
            name: s.name.clone(),
            state: s.state.clone(),
            error_message: s.error_message.clone(),
            last_update: clock.opt_datetime(s.last_update),
            disabled: clock.opt_datetime(s.disabled),
            created: clock.datetime(s.created),
            access_expire: clock.opt_datetime(s.access_expire),
            expire: clock.opt_datetime(s.expire),
            next_try: clock.opt_datetime(s.next_try),
            priority: s.priority,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionLogView {
    pub id: i64,
    pub id_connection: i64,
    pub id_user: i64,
    pub id_connector: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_source: Option<i64>,
    pub start: String,
    /// When the sync ended.
    pub timestamp: String,
    /// The state the sync left (`null`: success).
    pub error: Option<String>,
    pub error_message: Option<String>,
    pub nb_accounts: i64,
    pub nb_transactions: i64,
    /// A statement import's deviations from its file's standard, when it had any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<WarningView>>,
    /// Warnings after the first 100, counted but not kept (absent when none were).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings_omitted: Option<u64>,
}

impl ConnectionLogView {
    pub fn new(l: &ConnectionLog, clock: &ApiClock) -> Self {
        let warnings = l.warnings();
        ConnectionLogView {
            id: l.id,
            id_connection: l.id_connection,
            id_user: l.id_user,
            id_connector: l.id_connector,
            id_source: l.id_source,
            start: clock.datetime(l.started),
            timestamp: clock.datetime(l.ended),
            error: l.state.clone(),
            error_message: l.error_message.clone(),
            nb_accounts: l.nb_accounts,
            nb_transactions: l.nb_transactions,
            warnings: warnings.as_ref().map(|w| w.warnings.iter().map(WarningView::from).collect()),
            warnings_omitted: warnings.map(|w| w.omitted).filter(|omitted| *omitted > 0),
        }
    }
}

/// Where a statement file bends its format's standard, and what was assumed to read it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarningView {
    /// A line (`line 17`) or an XML element path (`Document/BkToCstmrStmt/Stmt[1]/Bal[2]`).
    #[serde(rename = "where")]
    pub location: String,
    /// What the file does (an amount without its decimal comma, a balance without its side).
    pub what: String,
    /// How it was read (`500,00: whole units`).
    pub assumed: String,
}

impl From<&statements::Warning> for WarningView {
    fn from(w: &statements::Warning) -> Self {
        WarningView { location: w.location.clone(), what: w.what.clone(), assumed: w.assumed.clone() }
    }
}

impl From<&LogWarning> for WarningView {
    fn from(w: &LogWarning) -> Self {
        WarningView { location: w.location.clone(), what: w.what.clone(), assumed: w.assumed.clone() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: i64,
    pub id_connection: i64,
    pub id_user: i64,
    pub id_source: i64,
    pub id_parent: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    pub webid: Option<String>,
    pub original_name: String,
    pub name: String,
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub balance: Option<Decimal>,
    /// Sum of pending operations.
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub coming: Option<Decimal>,
    pub display: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update: Option<String>,
    /// Set when the bank no longer reports the account (archived).
    pub deleted: Option<String>,
    /// Set while the user has not consented to the account's synchronization.
    pub disabled: Option<String>,
    pub iban: Option<String>,
    pub bic: Option<String>,
    pub currency: Option<CurrencyView>,
    pub r#type: String,
    pub id_type: i64,
    pub bookmarked: bool,
    pub error: Option<String>,
    pub usage: String,
    pub ownership: Option<String>,
    pub company_name: Option<String>,
    pub opening_date: Option<String>,
    pub formatted_balance: Option<String>,
    pub loan: Option<serde_json::Value>,
}

impl AccountView {
    /// A disabled account shows what identifies it only (GDPR: no consent, no data).
    pub fn new(a: &Account, clock: &ApiClock) -> Self {
        let consented = a.disabled.is_none();
        let currency = a.currency.as_deref().map(CurrencyView::of);
        let (balance, coming) = match (&currency, consented) {
            (Some(currency), true) => (amount(a.balance, currency), amount(a.coming, currency)),
            _ => (None, None),
        };
        let formatted_balance = balance.zip(currency.as_ref()).map(|(b, c)| format_amount(b, c));
        AccountView {
            id: a.id,
            id_connection: a.id_connection,
            id_user: a.id_user,
            id_source: a.id_source,
            id_parent: None,
            number: a.number.clone().filter(|_| consented),
            webid: consented.then(|| a.webid.clone()),
            original_name: a.original_name.clone(),
            name: a.name.clone().unwrap_or_else(|| a.original_name.clone()),
            balance,
            coming,
            display: a.display,
            last_update: clock.opt_datetime(a.last_update).filter(|_| consented),
            deleted: clock.opt_datetime(a.deleted),
            disabled: clock.opt_datetime(a.disabled),
            iban: a.iban.clone().filter(|_| consented),
            bic: a.bic.clone().filter(|_| consented),
            currency,
            id_type: AccountType::of(&a.kind).id(),
            r#type: a.kind.clone(),
            bookmarked: a.bookmarked,
            error: a.error.clone(),
            usage: a.usage.clone(),
            ownership: consented.then(|| "owner".to_owned()),
            company_name: None,
            opening_date: None,
            formatted_balance,
            loan: None,
        }
    }
}

/// A day of an account's balance history (bankd's extension), with its currency's decimals.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceView {
    pub date: NaiveDate,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub balance: Decimal,
    /// Sum of pending operations that day.
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub coming: Option<Decimal>,
}

impl BalanceView {
    /// `account_currency` counts for a day that recorded none.
    pub fn new(day: &DayBalance, account_currency: Option<&str>) -> Self {
        let currency = CurrencyView::of(day.currency.as_deref().or(account_currency).unwrap_or_default());
        BalanceView {
            date: day.date,
            balance: amount(Some(day.balance), &currency).unwrap_or_default(),
            coming: amount(day.coming, &currency),
        }
    }
}

/// Stored units as the bank would print them, in the currency's decimals (see [`format_amount`]).
pub fn formatted_amount(units: i64, currency: &CurrencyView) -> String {
    format_amount(amount(Some(units), currency).unwrap_or_default(), currency)
}

/// `7 481,01 €` / `$1,234.50`: how the bank would print it.
fn format_amount(value: Decimal, currency: &CurrencyView) -> String {
    let fixed = format!("{:.*}", currency.precision as usize, value.abs());
    let (int_part, frac) = fixed.split_once('.').map_or((fixed.as_str(), None), |(i, f)| (i, Some(f)));
    let (group, decimal) = if currency.prefix { (',', '.') } else { ('\u{a0}', ',') };
    let mut grouped = String::new();
    for (i, digit) in int_part.chars().enumerate() {
        if i > 0 && (int_part.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(digit);
    }
    if let Some(frac) = frac {
        grouped.push(decimal);
        grouped.push_str(frac);
    }
    let sign = if value.is_sign_negative() && !value.is_zero() { "-" } else { "" };
    if currency.prefix {
        format!("{sign}{}{grouped}", currency.symbol)
    } else {
        format!("{sign}{grouped}\u{a0}{}", currency.symbol)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CounterpartyView {
    pub label: String,
    pub account_scheme_name: Option<String>,
    pub account_identification: Option<String>,
    /// `creditor` or `debtor`.
    pub r#type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionView {
    pub id: i64,
    pub id_account: i64,
    pub webid: Option<String>,
    pub application_date: Option<NaiveDate>,
    /// Debit date.
    pub date: NaiveDate,
    pub datetime: Option<String>,
    /// Real date of the operation.
    pub rdate: NaiveDate,
    pub rdatetime: Option<String>,
    pub vdate: Option<NaiveDate>,
    pub vdatetime: Option<String>,
    pub bdate: Option<NaiveDate>,
    pub bdatetime: Option<String>,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub value: Decimal,
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub gross_value: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub original_value: Option<Decimal>,
    pub original_currency: Option<CurrencyView>,
    pub r#type: String,
    pub original_wording: String,
    pub simplified_wording: String,
    /// Legacy copy of `simplified_wording` that older Powens clients (pybudgea) require.
    pub stemmed_wording: String,
    /// The user's label if set, else the simplified one.
    pub wording: String,
    pub categories: Vec<serde_json::Value>,
    pub date_scraped: String,
    /// Pending: not booked yet.
    pub coming: bool,
    pub active: bool,
    pub id_cluster: Option<i64>,
    pub comment: Option<String>,
    pub last_update: String,
    /// Set when the bank removed it.
    pub deleted: Option<String>,
    pub state: String,
    pub card: Option<String>,
    pub counterparty: Option<CounterpartyView>,
    pub commission: Option<f64>,
    pub country: Option<String>,
}

impl TransactionView {
    pub fn new(t: &Transaction, currency: &CurrencyView, clock: &ApiClock) -> Self {
        let counterparty = t.counterparty.as_deref().and_then(parse_counterparty).map(|c| CounterpartyView {
            label: c.label,
            account_scheme_name: c.account_scheme_name,
            account_identification: c.account_identification,
            r#type: c.kind.to_owned(),
        });
        TransactionView {
            id: t.id,
            id_account: t.id_account,
            webid: t.webid.clone(),
            application_date: Some(t.application_date),
            date: t.date,
            datetime: None,
            rdate: t.rdate,
            rdatetime: None,
            vdate: t.vdate,
            vdatetime: None,
            bdate: Some(t.date),
            bdatetime: None,
            value: amount(Some(t.value), currency).unwrap_or_default(),
            gross_value: None,
            original_value: None,
            original_currency: None,
            r#type: t.kind.clone(),
            original_wording: t.original_wording.clone(),
            simplified_wording: t.simplified_wording.clone(),
            stemmed_wording: t.simplified_wording.clone(),
            wording: t.wording.clone().unwrap_or_else(|| t.simplified_wording.clone()),
            categories: Vec::new(),
            date_scraped: clock.datetime(t.date_scraped),
            coming: t.coming,
            active: t.active,
            id_cluster: None,
            comment: t.comment.clone(),
            last_update: clock.datetime(t.last_update),
            deleted: clock.opt_datetime(t.deleted),
            state: "parsed".into(),
            card: t.card.clone(),
            counterparty,
            commission: None,
            country: None,
        }
    }
}
