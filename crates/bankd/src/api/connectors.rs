//! `/connectors`: the banks bankd can connect to (no authentication needed).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Path, Query, parse_id};
use super::wire::{ConnectorSourceView, ConnectorView};
use crate::catalog::{Catalog, Connector};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connectors))
        .routes(routes!(get_connector))
        .routes(routes!(list_sources))
        .routes(routes!(get_source))
}

#[derive(Serialize, ToSchema)]
pub struct ConnectorList {
    connectors: Vec<ConnectorView>,
    total: usize,
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

/// Every connector, with its credential form (`fields`) and `sources` (always expanded).
#[utoipa::path(get, path = "/connectors", tag = "connectors",
    params(("expand" = Option<String>, Query, description = "`fields,sources` (always included)"),
        ("country_codes" = Option<String>, Query, description = "comma-separated ISO 3166 codes")),
    responses((status = 200, body = ConnectorList), (status = 400, body = ErrorBody)))]
async fn list_connectors(State(state): State<AppState>, Query(query): Query) -> ApiResult<Json<ConnectorList>> {
    let countries: Option<Vec<String>> = query
        .str("country_codes")?
        .map(|codes| codes.split(',').map(|c| c.trim().to_ascii_uppercase()).filter(|c| !c.is_empty()).collect());
    let connectors: Vec<ConnectorView> = state
        .catalog
        .connectors
        .iter()
        .filter(|c| !c.hidden)
        .filter(|c| countries.as_ref().is_none_or(|wanted| c.countries.iter().any(|have| wanted.contains(have))))
        .map(|c| ConnectorView::new(c, &state.clock))
        .collect();
    Ok(Json(ConnectorList { total: connectors.len(), connectors }))
}

#[utoipa::path(get, path = "/connectors/{id_connector}", tag = "connectors",
    params(("id_connector" = String, Path, description = "connector uuid or id")),
    responses((status = 200, body = ConnectorView), (status = 404, body = ErrorBody)))]
async fn get_connector(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ConnectorView>> {
    let connector = find_connector(&state.catalog, &id)?;
    Ok(Json(ConnectorView::new(connector, &state.clock)))
}

#[utoipa::path(get, path = "/connectors/{id_connector}/sources", tag = "connectors",
    params(("id_connector" = String, Path, description = "connector uuid or id")),
    responses((status = 200, body = ConnectorSourceList), (status = 404, body = ErrorBody)))]
async fn list_sources(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ConnectorSourceList>> {
    let connector = find_connector(&state.catalog, &id)?;
    let sources = connector.sources.iter().map(|s| ConnectorSourceView::new(connector, s, &state.clock)).collect();
    Ok(Json(ConnectorSourceList { sources }))
}

#[utoipa::path(get, path = "/connectors/{id_connector}/sources/{id_source}", tag = "connectors",
    params(("id_connector" = String, Path, description = "connector uuid or id"), ("id_source" = i64, Path)),
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
