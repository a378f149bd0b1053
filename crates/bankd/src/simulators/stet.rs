//! Sandbox STET bank: a French bank's STET PSD2 account information interface (v1.4/1.6) with its
//! OAuth2 authorization server, serving the same customers as the Sandbox Bank, so that bankd's
//! `stet` driver runs against real HTTP. Mounted by `bankd serve` under `/sandbox/stet`.
//!
//! The PSU types their login on the authorization page (`/authorize`): any login is a plain
//! customer, `big` has 100,000 transactions (500 a page), `revoked` lists its accounts but is
//! refused their history (403: the PSU withdrew the access), `refresh` gets access tokens that live
//! one second (so every run refreshes them), `unavailable` finds the API down (503). The
//! authorization code grant requires PKCE (S256); grants live in this process's memory.
//!
//! A TPP registers at `POST /register` (RFC 7591) and manages its registration at
//! `PUT /register/{client_id}` (RFC 7592, [`registration`](super::registration)); a registered
//! client authenticates at `/token` with its secret. The catalog's `bankd-sandbox`, registered
//! nowhere, stays a public client.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use chrono::{Days, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::customers::{Cursor, Customer, Product, Profile, bank_transaction_code};
use super::oauth::{self, OAuthServer, TokenRequest};
use super::registration::Registrar;
use super::{PageError, back_to, escape_html, page};
use crate::domain::bank::{BankAccount, BankTransaction};

const PAGE_SIZE: usize = 500;
const TOKEN_SECONDS: i64 = 3600;

#[derive(Clone)]
struct Bank {
    /// The API's own links are absolute paths under this prefix (`/sandbox/stet`).
    prefix: String,
    public_url: String,
    oauth: OAuthServer,
    registrar: Registrar,
}

/// The bank's routes; `public_url` is where they are served (e.g. `http://host/sandbox/stet`).
pub fn router(public_url: &str) -> Router {
    let public_url = public_url.trim_end_matches('/').to_owned();
    let prefix = public_url.splitn(4, '/').nth(3).map(|path| format!("/{path}")).unwrap_or_default();
    let bank = Bank { prefix, public_url, oauth: OAuthServer::default(), registrar: Registrar::default() };
    Router::new()
        .route("/authorize", get(authorize_page).post(authorize))
        .route("/token", axum::routing::post(token))
        .route("/register", axum::routing::post(register))
        .route("/register/{client_id}", axum::routing::put(update_registration))
        .route("/accounts", get(accounts))
        .route("/accounts/{id}/balances", get(balances))
        .route("/accounts/{id}/transactions", get(transactions))
        .with_state(bank)
}

/// A STET error answer: `{status, error, message}`.
struct Refusal(StatusCode, &'static str, &'static str);

impl From<oauth::Refused> for Refusal {
    fn from((status, error, message): oauth::Refused) -> Refusal {
        Refusal(status, error, message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Refusal(status, error, message) = self;
        (status, Json(json!({ "status": status.as_u16(), "error": error, "message": message }))).into_response()
    }
}

type Answer = Result<Response, Refusal>;

fn customer(login: &str) -> Customer {
    let profile = if login == "big" { Profile::Big } else { Profile::Plain };
    Customer::new(login, profile, Utc::now().date_naive())
}

impl Bank {
    fn link(&self, path: &str) -> Value {
        json!({ "href": format!("{}{path}", self.prefix) })
    }

    /// The PSU whose bearer token this is.
    fn psu(&self, headers: &HeaderMap) -> Result<String, Refusal> {
        let login = self.oauth.bearer(headers)?;
        if login == "unavailable" {
            return Err(Refusal(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "The bank's API is under maintenance"));
        }
        Ok(login)
    }
}

// ---- OAuth2 authorization server ----

async fn authorize_page(
    State(bank): State<Bank>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    for name in ["client_id", "redirect_uri", "state", "code_challenge"] {
        super::require(&params, name)?;
    }
    back_to(&params["redirect_uri"], &[])?;
    if !bank.registrar.redirect_allowed(&params["client_id"], &params["redirect_uri"]) {
        return Err(PageError("the redirect URI is not one the application registered".into()));
    }
    let hidden: String = ["client_id", "redirect_uri", "state", "code_challenge", "scope"]
        .iter()
        .filter_map(|name| params.get(*name).map(|value| (name, value)))
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape_html(value)))
        .collect();
    let body = format!(
        "<p>An application asks to read your accounts.</p>\
         <form method=\"post\" action=\"{}/authorize\">{hidden}\
         <label>Login <input name=\"login\" autocomplete=\"username\" required></label> \
         <button type=\"submit\">Authorize</button></form>",
        escape_html(&bank.public_url),
    );
    Ok(page("Sandbox Bank (STET) — authorize access", &body))
}

#[derive(Deserialize)]
struct Authorization {
    login: String,
    redirect_uri: String,
    state: String,
    code_challenge: String,
}

async fn authorize(State(bank): State<Bank>, Form(form): Form<Authorization>) -> Result<Redirect, PageError> {
    let login = form.login.trim().to_lowercase();
    if login.is_empty() {
        return Err(PageError("enter your login".into()));
    }
    let code = bank.oauth.issue_code(&login, &form.redirect_uri, &form.code_challenge);
    Ok(Redirect::to(&back_to(&form.redirect_uri, &[("state", &form.state), ("code", &code)])?))
}

async fn token(State(bank): State<Bank>, headers: HeaderMap, Form(form): Form<TokenRequest>) -> Answer {
    bank.registrar.authenticate(&headers, form.client_id.as_deref())?;
    let lifetime = |login: &str| if login == "refresh" { 1 } else { TOKEN_SECONDS };
    let (_, answer) = bank.oauth.token(form, lifetime)?;
    Ok(Json(answer).into_response())
}

async fn register(State(bank): State<Bank>, Json(body): Json<Value>) -> Result<Response, super::registration::Refusal> {
    bank.registrar.register(&body, &bank.public_url)
}

async fn update_registration(
    State(bank): State<Bank>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Response, super::registration::Refusal> {
    bank.registrar.update(&client_id, &headers, &body, &bank.public_url)
}

// ---- AISP resources ----

fn amount(value: rust_decimal::Decimal) -> Value {
    json!({ "currency": "EUR", "amount": value.abs().to_string() })
}

fn balances_of(account: &BankAccount, today: NaiveDate) -> Value {
    let expected = account.balance + account.coming.unwrap_or_default();
    let signed = |value: rust_decimal::Decimal| json!({ "currency": account.currency, "amount": value.to_string() });
    json!([
        { "name": "Solde comptable", "balanceAmount": signed(account.balance), "balanceType": "CLBD",
          "referenceDate": today - Days::new(1) },
        { "name": "Solde prévisionnel", "balanceAmount": signed(expected), "balanceType": "XPCD" },
    ])
}

/// STET knows two cash account types: current accounts (savings included) and cards.
fn account_resource(bank: &Bank, account: &BankAccount, product: Product, today: NaiveDate) -> Value {
    let id = &account.webid;
    let account_id = match (&account.iban, &account.number) {
        (Some(iban), _) => json!({ "iban": iban, "currency": account.currency }),
        (None, number) => json!({ "other": { "identification": number, "schemeName": "CPAN", "issuer": "SANDBOX" },
                                  "currency": account.currency }),
    };
    json!({
        "resourceId": id,
        "bicFi": account.bic.clone().unwrap_or_else(|| "SBXBFRPPXXX".into()),
        "accountId": account_id,
        "name": account.name,
        "usage": "PRIV",
        "cashAccountType": if product == Product::Card { "CARD" } else { "CACC" },
        "psuStatus": "Account Holder",
        "balances": balances_of(account, today),
        "_links": {
            "balances": bank.link(&format!("/accounts/{id}/balances")),
            "transactions": bank.link(&format!("/accounts/{id}/transactions")),
        },
    })
}

async fn accounts(State(bank): State<Bank>, headers: HeaderMap) -> Answer {
    let login = bank.psu(&headers)?;
    let customer = customer(&login);
    let today = Utc::now().date_naive();
    let list: Vec<Value> = customer
        .products(1)
        .map(|product| account_resource(&bank, &customer.account(product, today, 0), product, today))
        .collect();
    Ok(Json(json!({ "accounts": list, "_links": { "self": bank.link("/accounts") } })).into_response())
}

fn find(login: &str, id: &str) -> Result<(Customer, Product), Refusal> {
    let customer = customer(login);
    let product = customer.products(1).find(|p| customer.webid(*p) == id);
    product.map(|p| (customer, p)).ok_or(Refusal(StatusCode::NOT_FOUND, "not_found", "No such account"))
}

async fn balances(State(bank): State<Bank>, Path(id): Path<String>, headers: HeaderMap) -> Answer {
    let (customer, product) = find(&bank.psu(&headers)?, &id)?;
    let today = Utc::now().date_naive();
    let account = customer.account(product, today, 0);
    Ok(Json(json!({ "balances": balances_of(&account, today) })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransactionsQuery {
    date_from: Option<NaiveDate>,
    page: Option<String>,
}

async fn transactions(
    State(bank): State<Bank>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TransactionsQuery>,
) -> Answer {
    let login = bank.psu(&headers)?;
    if login == "revoked" {
        return Err(Refusal(StatusCode::FORBIDDEN, "access_denied", "The PSU withdrew this access"));
    }
    let (customer, product) = find(&login, &id)?;
    let today = Utc::now().date_naive();
    let from = query.date_from.unwrap_or(today - Days::new(customer.history_days()));
    let cursor = match query.page.as_deref().map(Cursor::parse) {
        Some(Some(cursor)) => cursor,
        Some(None) => return Err(Refusal(StatusCode::BAD_REQUEST, "invalid_request", "Unknown page")),
        None => Cursor::default(),
    };
    let (booked, next) = customer.booked_page(product, from, today, today, cursor, PAGE_SIZE);
    let mut rows: Vec<Value> = booked.iter().map(|t| transaction(t, "BOOK")).collect();
    if cursor == Cursor::default() {
        rows.extend(customer.pending_rows(product, 0).iter().map(|t| transaction(t, "PDNG")));
    }
    let mut links = json!({ "self": bank.link(&format!("/accounts/{id}/transactions")) });
    if let Some(next) = next {
        let query = super::encode_query(&[("dateFrom", &from.to_string()), ("page", &next.to_string())]);
        links["next"] = bank.link(&format!("/accounts/{id}/transactions?{query}"));
    }
    Ok(Json(json!({ "transactions": rows, "_links": links })).into_response())
}

/// One STET transaction: unsigned amount with its direction, remittance lines, related parties.
fn transaction(t: &BankTransaction, status: &str) -> Value {
    let [domain, family, sub_family] = bank_transaction_code(t);
    let mut row = json!({
        "transactionAmount": amount(t.value),
        "creditDebitIndicator": if t.value.is_sign_negative() { "DBIT" } else { "CRDT" },
        "status": status,
        "transactionDate": t.rdate,
        "remittanceInformation": { "unstructured": [t.original_wording] },
        "bankTransactionCode": { "domain": domain, "family": family, "subFamily": sub_family },
    });
    if status == "BOOK" {
        row["bookingDate"] = json!(t.date);
    }
    if let Some(webid) = &t.webid {
        row["entryReference"] = json!(webid);
    }
    if let Some(vdate) = t.vdate {
        row["valueDate"] = json!(vdate);
    }
    if let Some(party) = &t.counterparty {
        row["relatedParties"] = json!({ party.kind: { "name": party.label } });
    }
    row
}
