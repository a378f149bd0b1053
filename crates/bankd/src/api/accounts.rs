//! `/users/{id_user}/accounts`: bank accounts under the two rules — archived accounts stay
//! readable, and an account syncs nothing until its owner enables it (shared/api/accounts.md).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::extract::{Body, Caller, Path, Query};
use crate::state::AppState;
use crate::store::accounts::{AccountEdit, AccountScope};
use crate::store::rows::Account;
use crate::usecases::accounts::edit_account;
use crate::wire::error::{ApiError, ApiResult, ErrorBody};
use crate::wire::params::parse_id;
use crate::wire::{AccountView, BalanceView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts))
        .routes(routes!(list_connection_accounts))
        .routes(routes!(get_account, update_account, update_account_put))
        .routes(routes!(list_balances))
}

#[derive(Serialize, ToSchema)]
pub struct AccountList {
    accounts: Vec<AccountView>,
    total: usize,
    /// Sum of the listed balances (all currencies together, as Powens does).
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    balance: Decimal,
    /// Sum of the listed balances, by currency.
    #[schema(value_type = BTreeMap<String, f64>)]
    balances: BTreeMap<String, f64>,
    /// Sum of the listed pending amounts, by currency.
    #[schema(value_type = BTreeMap<String, f64>)]
    coming_balances: BTreeMap<String, f64>,
}

fn account_list(accounts: Vec<Account>, state: &AppState) -> AccountList {
    let views: Vec<AccountView> = accounts.iter().map(|a| AccountView::new(a, &state.clock)).collect();
    let mut balances: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut coming: BTreeMap<String, Decimal> = BTreeMap::new();
    for view in views.iter().filter(|v| v.display) {
        let Some(currency) = &view.currency else { continue };
        *balances.entry(currency.id.clone()).or_default() += view.balance.unwrap_or_default();
        *coming.entry(currency.id.clone()).or_default() += view.coming.unwrap_or_default();
    }
    let as_numbers = |sums: BTreeMap<String, Decimal>| -> BTreeMap<String, f64> {
        sums.into_iter().map(|(k, v)| (k, f64::try_from(v).unwrap_or_default())).collect()
    };
    AccountList {
        total: views.len(),
        balance: balances.values().copied().sum(),
        balances: as_numbers(balances),
        coming_balances: as_numbers(coming),
        accounts: views,
    }
}

async fn list(state: &AppState, scope: AccountScope) -> ApiResult<Json<AccountList>> {
    let accounts = state.store.accounts(scope).await?;
    // Asked only of an empty listing: the user may have accounts this scope hides.
    if accounts.is_empty() && !state.store.user_has_accounts(scope.id_user).await? {
        return Err(ApiError::Bank {
            code: "noAccount",
            description: "the user has no bank account yet".into(),
            message: None,
        });
    }
    Ok(Json(account_list(accounts, state)))
}

/// The user's accounts: enabled and present ones; `?all` adds disabled and archived ones.
#[utoipa::path(get, path = "/users/{id_user}/accounts", tag = "accounts", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("all" = Option<bool>, Query)),
    responses((status = 200, body = AccountList), (status = 400, body = ErrorBody)))]
async fn list_accounts(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Query(query): Query,
) -> ApiResult<Json<AccountList>> {
    let id_user = caller.user_id(&state, &user).await?;
    list(&state, AccountScope { id_user, id_connection: None, all: query.flag("all")? }).await
}

#[utoipa::path(get, path = "/users/{id_user}/connections/{id_connection}/accounts", tag = "accounts", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_connection" = i64, Path), ("all" = Option<bool>, Query)),
    responses((status = 200, body = AccountList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_connection_accounts(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Query(query): Query,
) -> ApiResult<Json<AccountList>> {
    let id_user = caller.user_id(&state, &user).await?;
    let id_connection = parse_id(&id, "id_connection")?;
    if state.store.connection(id_user, id_connection).await?.is_none() {
        return Err(ApiError::not_found("connectionNotFound", "connection"));
    }
    list(&state, AccountScope { id_user, id_connection: Some(id_connection), all: query.flag("all")? }).await
}

async fn user_account(state: &AppState, caller: &Caller, user: &str, id: &str) -> ApiResult<Account> {
    let id_user = caller.user_id(state, user).await?;
    let id = parse_id(id, "id_account")?;
    state.store.account(id_user, id).await?.ok_or_else(|| ApiError::not_found("accountNotFound", "account"))
}

/// One account, archived or disabled ones included.
#[utoipa::path(get, path = "/users/{id_user}/accounts/{id_account}", tag = "accounts", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_account" = i64, Path)),
    responses((status = 200, body = AccountView), (status = 404, body = ErrorBody)))]
async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
) -> ApiResult<Json<AccountView>> {
    let account = user_account(&state, &caller, &user, &id).await?;
    Ok(Json(AccountView::new(&account, &state.clock)))
}

/// Edit an account: `disabled` (enabling one syncs it at once), `display`, `name`, `bookmarked`, `usage`.
#[utoipa::path(post, path = "/users/{id_user}/accounts/{id_account}", tag = "accounts", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_account" = i64, Path)),
    request_body(content = inline(Object), description = "`disabled`, `display`, `name`, `bookmarked`, `usage`"),
    responses((status = 200, body = AccountView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_account(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Body(body): Body,
) -> ApiResult<Json<AccountView>> {
    let account = user_account(&state, &caller, &user, &id).await?;
    let usage = body.str("usage")?;
    if let Some(usage) = &usage
        && !["PRIV", "ORGA", "ASSO"].contains(&usage.as_str())
    {
        return Err(ApiError::invalid("usage", "must be PRIV, ORGA or ASSO"));
    }
    let name = body.str("name")?;
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    let edit = AccountEdit {
        name,
        display: body.bool("display")?,
        bookmarked: body.bool("bookmarked")?,
        usage,
        disabled: body.bool("disabled")?,
    };
    edit_account(&state, &account, &edit).await?;
    let account = user_account(&state, &caller, &user, &id).await?;
    Ok(Json(AccountView::new(&account, &state.clock)))
}

/// Legacy spelling of the update.
#[utoipa::path(put, path = "/users/{id_user}/accounts/{id_account}", tag = "accounts", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_account" = i64, Path)),
    request_body(content = inline(Object), description = "as POST"),
    responses((status = 200, body = AccountView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_account_put(
    state: State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<AccountView>> {
    update_account(state, caller, path, body).await
}

#[derive(Serialize, ToSchema)]
pub struct BalanceList {
    /// One per day the account was synced or imported, oldest first.
    balances: Vec<BalanceView>,
    total: usize,
}

/// The account's balance at the end of each day it was synced or imported (bankd's extension, not
/// in Powens' API). A disabled account shows none, like its balance.
#[utoipa::path(get, path = "/users/{id_user}/accounts/{id_account}/balances", tag = "accounts", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_account" = i64, Path),
        ("min_date" = Option<String>, Query, description = "first day, `YYYY-MM-DD`"),
        ("max_date" = Option<String>, Query, description = "last day, `YYYY-MM-DD`")),
    responses((status = 200, body = BalanceList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_balances(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Query(query): Query,
) -> ApiResult<Json<BalanceList>> {
    let account = user_account(&state, &caller, &user, &id).await?;
    let (min, max) = (query.date("min_date")?, query.date("max_date")?);
    let days = match account.disabled {
        Some(_) => Vec::new(),
        None => state.store.balance_history(account.id, min, max).await?,
    };
    let balances: Vec<BalanceView> =
        days.iter().map(|day| BalanceView::new(day, account.currency.as_deref())).collect();
    Ok(Json(BalanceList { total: balances.len(), balances }))
}
