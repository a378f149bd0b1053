//! `/users/{id_user}/connections`: linking a user to a bank, keeping the link alive through the
//! bank's authentication steps, and the connection's sources and logs (shared/api/connections.md).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::connectors::find_connector;
use crate::catalog::Connector;
use crate::http::extract::{Body, Caller, Path, Query};
use crate::state::AppState;
use crate::store::connections::{ConnectionSource, LogFilter};
use crate::store::rows::Connection;
use crate::sync::SyncRequest;
use crate::usecases::connections::{
    after_sync, answer, answer_request, connect, credentials_from, reload, request_sync, set_source_disabled,
};
use crate::wire::error::{ApiError, ApiResult, ErrorBody};
use crate::wire::params::{Params, page_limit, page_offset, parse_id};
use crate::wire::{ConnectionLogView, ConnectionSourceView, ConnectionView, ConnectorView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connections, create_connection))
        .routes(routes!(get_connection, update_connection, sync_connection, delete_connection))
        .routes(routes!(list_sources))
        .routes(routes!(get_source, update_source))
        .routes(routes!(list_logs))
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionList {
    connections: Vec<ConnectionView>,
    total: usize,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionSourceList {
    sources: Vec<ConnectionSourceView>,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionLogList {
    connectionlogs: Vec<ConnectionLogView>,
    total: i64,
}

/// The user's connection named in the path, or 404.
async fn user_connection(state: &AppState, caller: &Caller, user: &str, id: &str) -> ApiResult<Connection> {
    let id_user = caller.user_id(state, user).await?;
    let id = parse_id(id, "id_connection")?;
    state.store.connection(id_user, id).await?.ok_or_else(|| ApiError::not_found("connectionNotFound", "connection"))
}

/// Renders a connection with the `expand`ed relations (`connector`, `sources`).
async fn render(state: &AppState, connection: &Connection, expand: &Params) -> ApiResult<ConnectionView> {
    let connector = state.catalog.connector(connection.id_connector);
    let mut view = ConnectionView::new(connection, connector, &state.clock);
    let expand = expand.str("expand")?.unwrap_or_default();
    for relation in expand.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        match relation {
            "connector" => view.connector = connector.map(|c| ConnectorView::new(c, &state.clock)),
            "sources" => {
                let sources = state.store.connection_sources(connection.id).await?;
                view.sources = Some(sources.iter().map(|s| ConnectionSourceView::new(s, &state.clock)).collect());
            }
            // Powens clients may ask for relations bankd serves elsewhere; they are ignored.
            _ => {}
        }
    }
    Ok(view)
}

/// The source named by the `source` parameter, checked against the connector.
fn source_param(params: &Params, connector: &Connector) -> ApiResult<Option<String>> {
    match params.str("source")? {
        Some(name) if connector.sources.iter().any(|s| s.name == name) => Ok(Some(name)),
        Some(name) => Err(ApiError::invalid("source", format!("the connector has no source named '{name}'"))),
        None => Ok(None),
    }
}

/// Connect a user to a bank: the credentials are checked with the bank during the request.
#[utoipa::path(post, path = "/users/{id_user}/connections", tag = "connections", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path, description = "user id or `me`")),
    request_body(content = inline(Object), description = "`connector_uuid` or `id_connector`, the connector's fields by name (e.g. `login`, `password`), optional `source`"),
    responses((status = 201, body = ConnectionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Query(query): Query,
    Body(body): Body,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    let id_user = caller.user_id(&state, &user).await?;
    let connector = match (body.str("connector_uuid")?, body.str("id_connector")?) {
        (Some(uuid), _) => find_connector(&state.catalog, &uuid)?,
        (None, Some(id)) => find_connector(&state.catalog, &id)?,
        (None, None) => return Err(ApiError::missing("connector_uuid")),
    };
    let credentials = credentials_from(&body, connector, true)?;
    let only_source = source_param(&query, connector)?.or(source_param(&body, connector)?);
    let connection = connect(&state, id_user, connector, &credentials, only_source, !query.flag("background")?).await?;
    Ok((StatusCode::CREATED, Json(render(&state, &connection, &query).await?)))
}

/// The user's connections (`?all`: inactive ones too).
#[utoipa::path(get, path = "/users/{id_user}/connections", tag = "connections", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path, description = "user id or `me`"), ("all" = Option<bool>, Query), ("expand" = Option<String>, Query, description = "`connector`, `sources`")),
    responses((status = 200, body = ConnectionList), (status = 401, body = ErrorBody)))]
async fn list_connections(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Query(query): Query,
) -> ApiResult<Json<ConnectionList>> {
    let id_user = caller.user_id(&state, &user).await?;
    let mut connections = Vec::new();
    for connection in state.store.connections_of_user(id_user, query.flag("all")?).await? {
        connections.push(render(&state, &connection, &query).await?);
    }
    Ok(Json(ConnectionList { total: connections.len(), connections }))
}

#[utoipa::path(get, path = "/users/{id_user}/connections/{id_connection}", tag = "connections", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_connection" = i64, Path), ("expand" = Option<String>, Query, description = "`connector`, `sources`")),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody)))]
async fn get_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Query(query): Query,
) -> ApiResult<Json<ConnectionView>> {
    let connection = user_connection(&state, &caller, &user, &id).await?;
    Ok(Json(render(&state, &connection, &query).await?))
}

/// Update a connection: new credentials, answers the bank asked for (an OTP…), `resume` after an
/// app validation, `refresh_auth`, `active`, `expire`. Anything but settings triggers a sync.
#[utoipa::path(post, path = "/users/{id_user}/connections/{id_connection}", tag = "connections", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_connection" = i64, Path)),
    request_body(content = inline(Object), description = "credential fields, requested fields, `resume`, `refresh_auth`, `active`, `expire`, `source`"),
    responses((status = 200, body = ConnectionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Query(query): Query,
    Body(body): Body,
) -> ApiResult<Json<ConnectionView>> {
    let connection = user_connection(&state, &caller, &user, &id).await?;
    let connector = state
        .catalog
        .connector(connection.id_connector)
        .ok_or_else(|| ApiError::not_found("connectorNotFound", "connector"))?;
    let expire = match body.str("expire")? {
        Some(text) if !text.is_empty() => Some(Some(state.clock.parse_datetime("expire", &text)?)),
        Some(_) => Some(None),
        None => None,
    };
    let active = body.bool("active")?;
    if active.is_some() || expire.is_some() {
        state.store.update_connection_settings(connection.id, active, expire).await?;
    }

    let only_source = source_param(&query, connector)?.or(source_param(&body, connector)?);
    let request = answer_request(&body, connector, only_source)?;
    let asks_nothing = request.input.fields.0.is_empty()
        && request.new_credentials.is_none()
        && !request.input.resume
        && !request.input.authenticating;
    if asks_nothing && (active.is_some() || expire.is_some()) {
        let connection = reload(&state, &connection).await?;
        return Ok(Json(render(&state, &connection, &query).await?));
    }
    let connection = answer(&state, &connection, &request, !query.flag("background")?).await?;
    Ok(Json(render(&state, &connection, &query).await?))
}

/// Synchronize now.
#[utoipa::path(put, path = "/users/{id_user}/connections/{id_connection}", tag = "connections", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_connection" = i64, Path), ("psu_requested" = Option<bool>, Query, description = "the user is present (default true)")),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn sync_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Query(query): Query,
) -> ApiResult<Json<ConnectionView>> {
    let connection = user_connection(&state, &caller, &user, &id).await?;
    let request = SyncRequest { unattended: query.bool("psu_requested")? == Some(false), ..SyncRequest::default() };
    let requested = request_sync(&state, &connection, &request, !query.flag("background")?).await?;
    let connection = after_sync(&state, &connection, &requested).await?;
    Ok(Json(render(&state, &connection, &query).await?))
}

/// Delete the connection with its accounts and their transactions.
#[utoipa::path(delete, path = "/users/{id_user}/connections/{id_connection}", tag = "connections", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_connection" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let connection = user_connection(&state, &caller, &user, &id).await?;
    if !state.store.delete_connection(connection.id_user, connection.id).await? {
        return Err(ApiError::not_found("connectionNotFound", "connection"));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/users/{id_user}/connections/{id_connection}/sources", tag = "connections", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_connection" = i64, Path)),
    responses((status = 200, body = ConnectionSourceList), (status = 404, body = ErrorBody)))]
async fn list_sources(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
) -> ApiResult<Json<ConnectionSourceList>> {
    let connection = user_connection(&state, &caller, &user, &id).await?;
    let sources = state.store.connection_sources(connection.id).await?;
    Ok(Json(ConnectionSourceList {
        sources: sources.iter().map(|s| ConnectionSourceView::new(s, &state.clock)).collect(),
    }))
}

async fn connection_source(
    state: &AppState,
    caller: &Caller,
    user: &str,
    id: &str,
    id_source: &str,
) -> ApiResult<ConnectionSource> {
    let connection = user_connection(state, caller, user, id).await?;
    let id_source = parse_id(id_source, "id_source")?;
    state
        .store
        .connection_sources(connection.id)
        .await?
        .into_iter()
        .find(|s| s.id == id_source)
        .ok_or_else(|| ApiError::not_found("sourceNotFound", "source"))
}

#[utoipa::path(get, path = "/users/{id_user}/connections/{id_connection}/sources/{id_source}", tag = "connections", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_connection" = i64, Path), ("id_source" = i64, Path)),
    responses((status = 200, body = ConnectionSourceView), (status = 404, body = ErrorBody)))]
async fn get_source(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id, id_source)): Path<(String, String, String)>,
) -> ApiResult<Json<ConnectionSourceView>> {
    let source = connection_source(&state, &caller, &user, &id, &id_source).await?;
    Ok(Json(ConnectionSourceView::new(&source, &state.clock)))
}

/// Enable or disable one source of the connection (`{"disabled": bool}`).
#[utoipa::path(post, path = "/users/{id_user}/connections/{id_connection}/sources/{id_source}", tag = "connections", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_connection" = i64, Path), ("id_source" = i64, Path)),
    request_body(content = inline(Object), description = "`disabled` (bool)"),
    responses((status = 200, body = ConnectionSourceView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_source(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id, id_source)): Path<(String, String, String)>,
    Body(body): Body,
) -> ApiResult<Json<ConnectionSourceView>> {
    let source = connection_source(&state, &caller, &user, &id, &id_source).await?;
    let disabled = body.bool("disabled")?.ok_or_else(|| ApiError::missing("disabled"))?;
    set_source_disabled(&state, &source, disabled).await?;
    let source = connection_source(&state, &caller, &user, &id, &id_source).await?;
    Ok(Json(ConnectionSourceView::new(&source, &state.clock)))
}

/// The connection's sync history, newest first.
#[utoipa::path(get, path = "/users/{id_user}/connections/{id_connection}/logs", tag = "connections", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_connection" = i64, Path), ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query),
        ("min_date" = Option<String>, Query), ("max_date" = Option<String>, Query), ("id_source" = Option<i64>, Query)),
    responses((status = 200, body = ConnectionLogList), (status = 404, body = ErrorBody)))]
async fn list_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Query(query): Query,
) -> ApiResult<Json<ConnectionLogList>> {
    let connection = user_connection(&state, &caller, &user, &id).await?;
    let date = |name: &str| -> ApiResult<_> {
        query.str(name)?.map(|text| state.clock.parse_datetime(name, &text)).transpose()
    };
    let filter = LogFilter {
        min_date: date("min_date")?,
        max_date: date("max_date")?,
        id_source: query.i64("id_source")?,
        limit: page_limit(&query, 100, 1000)?,
        offset: page_offset(&query)?,
    };
    let (logs, total) = state.store.connection_logs(connection.id, &filter).await?;
    Ok(Json(ConnectionLogList {
        connectionlogs: logs.iter().map(|l| ConnectionLogView::new(l, &state.clock)).collect(),
        total,
    }))
}
