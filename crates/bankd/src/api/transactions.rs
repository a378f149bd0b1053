//! `/users/{id_user}/transactions`: listing with Powens' filters and cursor pagination, and the
//! user's edits (shared/api/transactions.md).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{OriginalUri, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::money::to_units;
use crate::http::extract::{Body, Caller, Path, Query};
use crate::state::AppState;
use crate::store::Bind;
use crate::store::rows::Transaction;
use crate::store::transactions::{DateColumn, DeletedRows, TransactionEdit, TransactionFilter};
use crate::wire::error::{ApiError, ApiResult, ErrorBody};
use crate::wire::params::{Params, page_limit, page_offset, parse_id};
use crate::wire::{CurrencyView, TransactionView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_user_transactions))
        .routes(routes!(list_account_transactions))
        .routes(routes!(list_connection_transactions))
        .routes(routes!(get_transaction, update_transaction, update_transaction_put))
}

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[derive(Serialize, ToSchema)]
pub struct Link {
    href: String,
}

#[derive(Serialize, ToSchema)]
pub struct Links {
    #[serde(rename = "self")]
    this: Link,
    next: Option<Link>,
    prev: Option<Link>,
}

#[derive(Serialize, ToSchema)]
pub struct TransactionList {
    transactions: Vec<TransactionView>,
    /// Earliest date in the query's scope.
    first_date: NaiveDate,
    /// Latest date in the query's scope.
    last_date: NaiveDate,
    /// Earliest date on this page.
    result_min_date: NaiveDate,
    /// Latest date on this page.
    result_max_date: NaiveDate,
    /// Rows in the query's scope, all pages together.
    total: i64,
    _links: Links,
}

/// Which rows a listing path covers.
enum Scope {
    User,
    Account(i64),
    Connection(i64),
}

/// Reads a calendar bound: `YYYY-MM-DD`, `YYYY-MM` or `YYYY`, taken as its first day (`end`
/// false) or its last day (`end` true).
fn calendar_bound(name: &str, text: &str, end: bool) -> ApiResult<NaiveDate> {
    let invalid = || ApiError::invalid(name, "expected YYYY-MM-DD, YYYY-MM or YYYY");
    let parts: Vec<&str> = text.trim().split('-').collect();
    let number = |s: &str| s.parse::<u32>().map_err(|_| invalid());
    let year = parts.first().ok_or_else(invalid)?.parse::<i32>().map_err(|_| invalid())?;
    let date = match parts.len() {
        1 if end => NaiveDate::from_ymd_opt(year, 12, 31),
        1 => NaiveDate::from_ymd_opt(year, 1, 1),
        2 => {
            let first = NaiveDate::from_ymd_opt(year, number(parts[1])?, 1).ok_or_else(invalid)?;
            if end { first.checked_add_months(chrono::Months::new(1)).and_then(|d| d.pred_opt()) } else { Some(first) }
        }
        3 => {
            // A datetime's date part is accepted too.
            let day = parts[2].split([' ', 'T']).next().unwrap_or_default();
            NaiveDate::from_ymd_opt(year, number(parts[1])?, number(day)?)
        }
        _ => None,
    };
    date.ok_or_else(invalid)
}

fn amount_bind(name: &str, text: &str) -> ApiResult<Bind> {
    let value: Decimal =
        text.trim().parse().map_err(|_| ApiError::invalid(name, format!("'{text}' is not an amount")))?;
    to_units(value).map(Bind::I64).map_err(|e| ApiError::invalid(name, e.to_string()))
}

/// Translates Powens' query parameters into the filter of a listing.
fn filter(state: &AppState, id_user: i64, scope: &Scope, query: &Params) -> ApiResult<TransactionFilter> {
    let mut f =
        TransactionFilter { id_user, limit: page_limit(query, DEFAULT_LIMIT, MAX_LIMIT)?, ..Default::default() };
    match scope {
        Scope::User => {}
        Scope::Account(id) => f.id_account = Some(*id),
        Scope::Connection(id) => f.id_connection = Some(*id),
    }
    f.date_column = match query.str("filter")?.as_deref() {
        None | Some("application_date") => DateColumn::ApplicationDate,
        Some("date") => DateColumn::Date,
        Some(_) => return Err(ApiError::invalid("filter", "must be application_date or date")),
    };
    f.min_date = query.str("min_date")?.map(|text| calendar_bound("min_date", &text, false)).transpose()?;
    f.max_date = query.str("max_date")?.map(|text| calendar_bound("max_date", &text, true)).transpose()?;
    f.deleted = match (query.bool("deleted")?, query.flag("all")?) {
        (Some(true), _) => DeletedRows::Only,
        (Some(false), _) | (None, false) => DeletedRows::Hidden,
        (None, true) => DeletedRows::Included,
    };
    f.after = query.str("cursor")?.map(|c| decode_cursor(&c)).transpose()?;
    f.offset = page_offset(query)?;
    let c = &mut f.extra;
    if let Some(text) = query.str("last_update")? {
        c.and("last_update > ?", [Bind::Time(state.clock.parse_datetime("last_update", &text)?)]);
    }
    match query.bool("income")? {
        Some(true) => _ = c.and("value > 0", []),
        Some(false) => _ = c.and("value < 0", []),
        None => {}
    }
    if let Some(list) = query.str("value")? {
        let values = list.split('|').map(|v| amount_bind("value", v)).collect::<ApiResult<Vec<_>>>()?;
        let marks = vec!["?"; values.len()].join(", ");
        c.and(&format!("value IN ({marks})"), values);
    }
    if let Some(text) = query.str("min_value")? {
        c.and("value >= ?", [amount_bind("min_value", &text)?]);
    }
    if let Some(text) = query.str("max_value")? {
        c.and("value <= ?", [amount_bind("max_value", &text)?]);
    }
    if let Some(text) = query.str("wording")? {
        c.and("LOWER(COALESCE(wording, simplified_wording)) LIKE ?", [Bind::Text(like(&text))]);
    }
    if let Some(text) = query.str("search")? {
        let pattern = like(&text);
        c.and(
            "LOWER(original_wording) LIKE ? OR LOWER(COALESCE(wording, simplified_wording)) LIKE ? OR LOWER(COALESCE(comment, '')) LIKE ?",
            [Bind::Text(pattern.clone()), Bind::Text(pattern.clone()), Bind::Text(pattern)],
        );
    }
    Ok(f)
}

/// A case-insensitive "contains" pattern (LIKE wildcards in the text are matched literally enough
/// for labels: `%` and `_` are rare in bank wordings and harmless here).
fn like(text: &str) -> String {
    format!("%{}%", text.to_lowercase())
}

/// The opaque cursor of `_links.next`: the last row's (date, id), base64url.
fn encode_cursor(row: &Transaction) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", row.date, row.id))
}

fn decode_cursor(text: &str) -> ApiResult<(NaiveDate, i64)> {
    let invalid = || ApiError::invalid("cursor", "not a cursor this server issued");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (date, id) = text.split_once('|').ok_or_else(invalid)?;
    Ok((date.parse().map_err(|_| invalid())?, id.parse().map_err(|_| invalid())?))
}

/// The absolute URL of this listing with `cursor` set (and `offset` dropped: the cursor is the position).
fn page_url(state: &AppState, path: &str, query: &Params, cursor: Option<String>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .0
        .iter()
        .filter(|(k, _)| k.as_str() != "cursor" && (cursor.is_none() || k.as_str() != "offset"))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    if let Some(cursor) = cursor {
        pairs.push(("cursor".into(), cursor));
    }
    let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    let base = state.public_url.trim_end_matches('/');
    if encoded.is_empty() { format!("{base}{path}") } else { format!("{base}{path}?{encoded}") }
}

/// A page of the user's transactions in `scope`, which must be the user's.
async fn list(state: &AppState, id_user: i64, scope: Scope, query: &Params, path: &str) -> ApiResult<TransactionList> {
    match scope {
        Scope::Account(id) if state.store.account(id_user, id).await?.is_none() => {
            return Err(ApiError::not_found("accountNotFound", "account"));
        }
        Scope::Connection(id) if state.store.connection(id_user, id).await?.is_none() => {
            return Err(ApiError::not_found("connectionNotFound", "connection"));
        }
        _ => {}
    }
    let filter = filter(state, id_user, &scope, query)?;
    let limit = filter.limit;
    let page = state.store.list_transactions(&filter).await?;
    let currencies: HashMap<i64, CurrencyView> = state
        .store
        .account_currencies(id_user)
        .await?
        .into_iter()
        .map(|(id, currency)| (id, CurrencyView::of(currency.as_deref().unwrap_or("EUR"))))
        .collect();
    let fallback = CurrencyView::of("EUR");
    let today = Utc::now().with_timezone(&state.clock.tz).date_naive();
    let bound = |name: &str, end: bool| -> ApiResult<NaiveDate> {
        Ok(query.str(name)?.map(|t| calendar_bound(name, &t, end)).transpose()?.unwrap_or(today))
    };
    let next = (page.rows.len() as i64 == limit)
        .then(|| page.rows.last())
        .flatten()
        .map(|last| Link { href: page_url(state, path, query, Some(encode_cursor(last))) });
    Ok(TransactionList {
        first_date: page.first_date.map_or_else(|| bound("min_date", false), Ok)?,
        last_date: page.last_date.map_or_else(|| bound("max_date", true), Ok)?,
        result_min_date: page.rows.iter().map(|t| t.date).min().map_or_else(|| bound("min_date", false), Ok)?,
        result_max_date: page.rows.iter().map(|t| t.date).max().map_or_else(|| bound("max_date", true), Ok)?,
        total: page.total,
        transactions: page
            .rows
            .iter()
            .map(|t| TransactionView::new(t, currencies.get(&t.id_account).unwrap_or(&fallback), &state.clock))
            .collect(),
        _links: Links { this: Link { href: page_url(state, path, query, None) }, next, prev: None },
    })
}

/// The user's transactions, newest first (`date`, then `id`, descending).
#[utoipa::path(get, path = "/users/{id_user}/transactions", tag = "transactions", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "default 100"), ("offset" = Option<i64>, Query, minimum = 0),
        ("cursor" = Option<String>, Query, description = "opaque; follow `_links.next.href`"),
        ("min_date" = Option<String>, Query, pattern = "^[0-9]{1,4}(-(0[1-9]|1[0-2])(-(0[1-9]|1[0-9]|2[0-8]))?)?$", description = "`YYYY-MM-DD`, `YYYY-MM` or `YYYY`"),
        ("max_date" = Option<String>, Query, pattern = "^[0-9]{1,4}(-(0[1-9]|1[0-2])(-(0[1-9]|1[0-9]|2[0-8]))?)?$", description = "included; `YYYY-MM-DD`, `YYYY-MM` or `YYYY`"), ("filter" = Option<String>, Query, pattern = "^(application_date|date)$", description = "`application_date` (default) or `date`"),
        ("last_update" = Option<String>, Query, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])( ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])?$", description = "`YYYY-MM-DD[ HH:MM:SS]` in the API's time zone (any real day; the pattern stops at the 28th, as a regular expression cannot know each month's length), or RFC 3339"), ("income" = Option<bool>, Query), ("deleted" = Option<bool>, Query), ("all" = Option<bool>, Query),
        ("value" = Option<String>, Query), ("min_value" = Option<f64>, Query), ("max_value" = Option<f64>, Query), ("wording" = Option<String>, Query), ("search" = Option<String>, Query)),
    responses((status = 200, body = TransactionList), (status = 400, body = ErrorBody)))]
async fn list_user_transactions(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Query(query): Query,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<TransactionList>> {
    let id_user = caller.user_id(&state, &user).await?;
    Ok(Json(list(&state, id_user, Scope::User, &query, uri.path()).await?))
}

#[utoipa::path(get, path = "/users/{id_user}/accounts/{id_account}/transactions", tag = "transactions", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_account" = i64, Path)),
    responses((status = 200, body = TransactionList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_account_transactions(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Query(query): Query,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<TransactionList>> {
    let id_user = caller.user_id(&state, &user).await?;
    let scope = Scope::Account(parse_id(&id, "id_account")?);
    Ok(Json(list(&state, id_user, scope, &query, uri.path()).await?))
}

#[utoipa::path(get, path = "/users/{id_user}/connections/{id_connection}/transactions", tag = "transactions", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_connection" = i64, Path)),
    responses((status = 200, body = TransactionList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_connection_transactions(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Query(query): Query,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<TransactionList>> {
    let id_user = caller.user_id(&state, &user).await?;
    let scope = Scope::Connection(parse_id(&id, "id_connection")?);
    Ok(Json(list(&state, id_user, scope, &query, uri.path()).await?))
}

async fn user_transaction(state: &AppState, caller: &Caller, user: &str, id: &str) -> ApiResult<Transaction> {
    let id_user = caller.user_id(state, user).await?;
    let id = parse_id(id, "id_transaction")?;
    state.store.transaction(id_user, id).await?.ok_or_else(|| ApiError::not_found("transactionNotFound", "transaction"))
}

async fn render(state: &AppState, t: &Transaction) -> ApiResult<TransactionView> {
    let account = state.store.account(t.id_user, t.id_account).await?;
    let currency = CurrencyView::of(account.and_then(|a| a.currency).as_deref().unwrap_or("EUR"));
    Ok(TransactionView::new(t, &currency, &state.clock))
}

#[utoipa::path(get, path = "/users/{id_user}/transactions/{id_transaction}", tag = "transactions", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_transaction" = i64, Path)),
    responses((status = 200, body = TransactionView), (status = 404, body = ErrorBody)))]
async fn get_transaction(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
) -> ApiResult<Json<TransactionView>> {
    let t = user_transaction(&state, &caller, &user, &id).await?;
    Ok(Json(render(&state, &t).await?))
}

/// Edit what belongs to the user: `wording`, `comment`, `active`, `application_date`.
#[utoipa::path(post, path = "/users/{id_user}/transactions/{id_transaction}", tag = "transactions", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_transaction" = i64, Path)),
    request_body(content = inline(Object), description = "`wording`, `comment`, `active`, `application_date`"),
    responses((status = 200, body = TransactionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_transaction(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Body(body): Body,
) -> ApiResult<Json<TransactionView>> {
    let t = user_transaction(&state, &caller, &user, &id).await?;
    let application_date = body
        .str("application_date")?
        .map(|d| d.parse::<NaiveDate>().map_err(|_| ApiError::invalid("application_date", "expected YYYY-MM-DD")))
        .transpose()?;
    if application_date.is_some_and(|d| d.year() < 1900) {
        return Err(ApiError::invalid("application_date", "too far in the past"));
    }
    let edit = TransactionEdit {
        wording: body.str("wording")?,
        comment: body.str("comment")?,
        active: body.bool("active")?,
        application_date,
    };
    state.store.edit_transaction(t.id, &edit).await?;
    let t = user_transaction(&state, &caller, &user, &id).await?;
    Ok(Json(render(&state, &t).await?))
}

/// Legacy spelling of the update.
#[utoipa::path(put, path = "/users/{id_user}/transactions/{id_transaction}", tag = "transactions", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_transaction" = i64, Path)),
    request_body(content = inline(Object), description = "as POST"),
    responses((status = 200, body = TransactionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_transaction_put(
    state: State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<TransactionView>> {
    update_transaction(state, caller, path, body).await
}
