//! `/account_types`: Powens' closed list of account types with their labels (no authentication needed).

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::bank::{ACCOUNT_TYPES, AccountType};
use crate::http::extract::{Path, Query};
use crate::state::AppState;
use crate::wire::error::{ApiError, ApiResult, ErrorBody};
use crate::wire::params::parse_id;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_account_types)).routes(routes!(get_account_type))
}

#[derive(Serialize, ToSchema)]
pub struct AccountTypeList {
    accounttypes: Vec<AccountTypeView>,
    total: usize,
}

#[derive(Serialize, ToSchema)]
pub struct AccountTypeView {
    /// What accounts carry in `id_type`.
    id: i64,
    /// What accounts carry in `type`.
    name: &'static str,
    /// The broader type this one is a kind of.
    id_parent: Option<i64>,
    /// Holds investments rather than cash.
    is_invest: bool,
    /// `bank` or `wealth`: the Powens product that aggregates it.
    product: &'static str,
    /// Singular label (French unless `lang=en`).
    display_name: &'static str,
    /// Plural label.
    display_name_p: &'static str,
    /// woob's number for the type (Powens' legacy field, required by older SDKs).
    weboob_type_id: u8,
}

impl AccountTypeView {
    fn new(kind: &AccountType, english: bool) -> Self {
        let (display_name, display_name_p) = if english { kind.english } else { kind.french };
        AccountTypeView {
            id: kind.id(),
            name: kind.name,
            id_parent: kind.parent.map(|parent| AccountType::of(parent).id()),
            is_invest: kind.is_invest,
            product: kind.product,
            display_name,
            display_name_p,
            weboob_type_id: kind.woob,
        }
    }
}

/// Powens' labels are French; `lang=en` asks for English ones.
fn wants_english(query: &Query) -> ApiResult<bool> {
    match query.0.str("lang")?.as_deref() {
        None | Some("fr") => Ok(false),
        Some("en") => Ok(true),
        Some(other) => Err(ApiError::invalid("lang", format!("'{other}' is neither fr nor en"))),
    }
}

/// Every account type, in id order.
#[utoipa::path(get, path = "/account_types", tag = "accounts",
    params(("lang" = Option<String>, Query, pattern = "^(fr|en)$", description = "labels' language: `fr` (default, as Powens) or `en`")),
    responses((status = 200, body = AccountTypeList), (status = 400, body = ErrorBody)))]
async fn list_account_types(query: Query) -> ApiResult<Json<AccountTypeList>> {
    let english = wants_english(&query)?;
    let accounttypes: Vec<AccountTypeView> = ACCOUNT_TYPES.iter().map(|t| AccountTypeView::new(t, english)).collect();
    Ok(Json(AccountTypeList { total: accounttypes.len(), accounttypes }))
}

#[utoipa::path(get, path = "/account_types/{id_type}", tag = "accounts",
    params(("id_type" = i64, Path), ("lang" = Option<String>, Query, pattern = "^(fr|en)$", description = "`fr` (default) or `en`")),
    responses((status = 200, body = AccountTypeView), (status = 404, body = ErrorBody)))]
async fn get_account_type(Path(id): Path<String>, query: Query) -> ApiResult<Json<AccountTypeView>> {
    let kind = AccountType::by_id(parse_id(&id, "id_type")?)
        .ok_or_else(|| ApiError::not_found("accountTypeNotFound", "account type"))?;
    Ok(Json(AccountTypeView::new(kind, wants_english(&query)?)))
}
