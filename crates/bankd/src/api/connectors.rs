//! `/connectors`: the banks bankd can connect to (no authentication needed), and `/banks`, Powens'
//! deprecated spelling that older apps and the generated SDKs still call.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::catalog::{Catalog, Connector};
use crate::directory::{self, iban::Iban};
use crate::http::extract::{Path, Query};
use crate::state::AppState;
use crate::wire::error::{ApiError, ApiResult, ErrorBody};
use crate::wire::params::parse_id;
use crate::wire::{ConnectorSourceView, ConnectorView};

#[allow(deprecated)] // the `/banks` handlers are deprecated for clients, not for us.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connectors))
        .routes(routes!(get_connector))
        .routes(routes!(list_sources))
        .routes(routes!(get_source))
        .routes(routes!(list_banks))
        .routes(routes!(get_bank))
}

#[derive(Serialize, ToSchema)]
pub struct ConnectorList {
    connectors: Vec<ConnectorView>,
    total: usize,
}

/// `/banks`' envelope: the same list under its legacy name.
#[derive(Serialize, ToSchema)]
pub struct BankList {
    banks: Vec<ConnectorView>,
    total: usize,
}

/// One connector, or several when the path names a comma-separated list of ids or uuids.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum OneOrMoreConnectors {
    One(Box<ConnectorView>),
    More(ConnectorList),
}

#[derive(Serialize, ToSchema)]
pub struct ConnectorSourceList {
    sources: Vec<ConnectorSourceView>,
}

/// A connector by uuid (Powens' current form) or by id (deprecated, still served).
pub fn find_connector<'a>(catalog: &'a Catalog, segment: &str) -> ApiResult<&'a Connector> {
    let found = match segment.parse::<uuid::Uuid>() {
        Ok(uuid) => catalog.connector_by_uuid(uuid),
        Err(_) => catalog.connector(parse_id(segment, "id_connector")?),
    };
    found.ok_or_else(|| ApiError::not_found("connectorNotFound", "connector"))
}

/// The listed connectors (not hidden) in the countries `country_codes` names, if it does; the bank
/// of the IBAN `iban` and the bank with the BIC `bic`, if given.
fn visible_connectors(state: &AppState, query: &Query) -> ApiResult<Vec<ConnectorView>> {
    let countries: Option<Vec<String>> = query
        .0
        .str("country_codes")?
        .map(|codes| codes.split(',').map(|c| c.trim().to_ascii_uppercase()).filter(|c| !c.is_empty()).collect());
    // An empty value filters nothing, as an empty `country_codes` does.
    let given = |name: &str| -> ApiResult<Option<String>> {
        Ok(query.0.str(name)?.map(|text| text.trim().to_owned()).filter(|text| !text.is_empty()))
    };
    let iban = match given("iban")? {
        Some(text) => Some(Iban::parse(&text).map_err(|why| ApiError::invalid("iban", why))?),
        None => None,
    };
    let bic = given("bic")?;
    if let Some(bic) = bic.as_deref().filter(|bic| !is_bic(bic)) {
        return Err(ApiError::invalid("bic", format!("{bic:?} is not a BIC: 8 or 11 letters and digits")));
    }
    Ok(state
        .catalog
        .connectors
        .iter()
        .filter(|c| !c.hidden)
        .filter(|c| countries.as_ref().is_none_or(|wanted| c.countries.iter().any(|have| wanted.contains(have))))
        .filter(|c| iban.as_ref().is_none_or(|iban| directory::serves_iban(c, iban)))
        .filter(|c| bic.as_deref().is_none_or(|bic| directory::has_bic(c, bic)))
        .map(|c| ConnectorView::new(c, &state.clock))
        .collect())
}

/// Whether `text` has a BIC's shape: 8 or 11 letters and digits, the first six letters.
fn is_bic(text: &str) -> bool {
    matches!(text.len(), 8 | 11)
        && text.bytes().all(|b| b.is_ascii_alphanumeric())
        && text.bytes().take(6).all(|b| b.is_ascii_alphabetic())
}

/// The OpenAPI parameters of both connector listings.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: the handlers read the query through `Query`.
struct ListParams {
    /// `fields,sources` (always included).
    expand: Option<String>,
    /// Comma-separated ISO 3166 codes.
    country_codes: Option<String>,
    /// The bank of this IBAN (spaces allowed): a connector of its country whose bank code is the
    /// one the IBAN carries (for NL, GB, IE: whose BIC starts with it). A malformed IBAN, or one
    /// whose check digits do not match, is a 400 `invalidValue`.
    #[param(pattern = r"^([A-Za-z]{2}[0-9]{2}[A-Za-z0-9 ]{11,40})?$")]
    iban: Option<String>,
    /// The bank with this BIC: 8 characters match the institution's every branch, 11 the branch
    /// (or, ending in `XXX`, the institution).
    #[param(pattern = r"^([A-Za-z]{6}[A-Za-z0-9]{2}([A-Za-z0-9]{3})?)?$")]
    bic: Option<String>,
}

/// Every connector, with its credential form (`fields`) and `sources` (always expanded).
#[utoipa::path(get, path = "/connectors", tag = "connectors",
    params(ListParams),
    responses((status = 200, body = ConnectorList), (status = 400, body = ErrorBody)))]
async fn list_connectors(State(state): State<AppState>, query: Query) -> ApiResult<Json<ConnectorList>> {
    let connectors = visible_connectors(&state, &query)?;
    Ok(Json(ConnectorList { total: connectors.len(), connectors }))
}

/// A connector by uuid (Powens' current form) or id; several, as a list, by comma-separated ids or uuids.
#[utoipa::path(get, path = "/connectors/{id_connector}", tag = "connectors",
    params(("id_connector" = String, Path, pattern = "^([1-9][0-9]{0,17}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(,([1-9][0-9]{0,17}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}))*$", description = "connector uuid or id, or a comma-separated list of them")),
    responses((status = 200, body = OneOrMoreConnectors), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_connector(State(state): State<AppState>, Path(ids): Path<String>) -> ApiResult<Json<OneOrMoreConnectors>> {
    if !ids.contains(',') {
        let connector = find_connector(&state.catalog, &ids)?;
        return Ok(Json(OneOrMoreConnectors::One(Box::new(ConnectorView::new(connector, &state.clock)))));
    }
    let connectors = ids
        .split(',')
        .map(|id| find_connector(&state.catalog, id.trim()).map(|c| ConnectorView::new(c, &state.clock)))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(OneOrMoreConnectors::More(ConnectorList { total: connectors.len(), connectors })))
}

/// Deprecated alias of `GET /connectors`, under the envelope `banks`.
#[deprecated = "use GET /connectors"]
#[utoipa::path(get, path = "/banks", tag = "connectors",
    params(ListParams),
    responses((status = 200, body = BankList), (status = 400, body = ErrorBody)))]
async fn list_banks(State(state): State<AppState>, query: Query) -> ApiResult<Json<BankList>> {
    let banks = visible_connectors(&state, &query)?;
    Ok(Json(BankList { total: banks.len(), banks }))
}

/// Deprecated alias of `GET /connectors/{id_connector}`.
#[deprecated = "use GET /connectors/{id_connector}"]
#[utoipa::path(get, path = "/banks/{id_connector}", tag = "connectors",
    params(("id_connector" = String, Path, pattern = "^([1-9][0-9]{0,17}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", description = "connector id or uuid")),
    responses((status = 200, body = ConnectorView), (status = 404, body = ErrorBody)))]
async fn get_bank(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ConnectorView>> {
    Ok(Json(ConnectorView::new(find_connector(&state.catalog, &id)?, &state.clock)))
}

#[utoipa::path(get, path = "/connectors/{id_connector}/sources", tag = "connectors",
    params(("id_connector" = String, Path, pattern = "^([1-9][0-9]{0,17}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", description = "connector uuid or id")),
    responses((status = 200, body = ConnectorSourceList), (status = 404, body = ErrorBody)))]
async fn list_sources(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ConnectorSourceList>> {
    let connector = find_connector(&state.catalog, &id)?;
    let sources = connector.sources.iter().map(|s| ConnectorSourceView::new(connector, s, &state.clock)).collect();
    Ok(Json(ConnectorSourceList { sources }))
}

#[utoipa::path(get, path = "/connectors/{id_connector}/sources/{id_source}", tag = "connectors",
    params(("id_connector" = String, Path, pattern = "^([1-9][0-9]{0,17}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", description = "connector uuid or id"), ("id_source" = i64, Path)),
    responses((status = 200, body = ConnectorSourceView), (status = 404, body = ErrorBody)))]
async fn get_source(
    State(state): State<AppState>,
    Path((id, id_source)): Path<(String, String)>,
) -> ApiResult<Json<ConnectorSourceView>> {
    let connector = find_connector(&state.catalog, &id)?;
    let source = connector
        .source(parse_id(&id_source, "id_source")?)
        .ok_or_else(|| ApiError::not_found("sourceNotFound", "source"))?;
    Ok(Json(ConnectorSourceView::new(connector, source, &state.clock)))
}
