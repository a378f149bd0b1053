//! `/webview/{connect,reconnect,manage}-url`: the Connect webview's link, built by bankd for an app
//! that prefers not to assemble it, with a fresh single-use code of the calling user.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::extract::{Query, UserToken};
use crate::state::AppState;
use crate::store::users::TokenKind;
use crate::wire::error::{ApiError, ApiResult, ErrorBody};
use crate::wire::params::{Params, parse_id};

/// How long the code in a built link stays valid: the person should open it right away.
const CODE_TTL: chrono::Duration = chrono::Duration::minutes(30);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(connect_url)).routes(routes!(reconnect_url)).routes(routes!(manage_url))
}

#[derive(Serialize, ToSchema)]
pub struct WebviewUrl {
    /// Open it in the person's browser; its code works once.
    url: String,
}

/// The parameters each flow passes on to the webview, beside `client_id`, `code` and `lang`.
const PASSED_ON: [&str; 6] =
    ["redirect_uri", "state", "connector_uuids", "connector_capabilities", "connection_id", "reset_credentials"];

/// Builds the link of `flow` for the calling user, checking what the webview would check.
async fn build(state: &AppState, id_user: i64, flow: &str, query: &Params) -> ApiResult<Json<WebviewUrl>> {
    let user = state.store.user(id_user).await?.ok_or(ApiError::InvalidToken)?;
    let id_client =
        user.id_client.ok_or_else(|| ApiError::Forbidden("this user belongs to no client application".into()))?;
    let client = state.store.client(id_client).await?.ok_or(ApiError::InvalidToken)?;
    if let Some(uri) = query.str("redirect_uri")? {
        if !state.store.client_redirect_uris(client.id).await?.contains(&uri) {
            return Err(ApiError::invalid("redirect_uri", "not registered for this client"));
        }
    } else if flow != "manage" {
        return Err(ApiError::missing("redirect_uri"));
    }
    if flow == "reconnect" {
        let id = parse_id(&query.require_str("connection_id")?, "connection_id")?;
        state
            .store
            .connection(id_user, id)
            .await?
            .ok_or_else(|| ApiError::not_found("connectionNotFound", "connection"))?;
    }
    let lang = match query.str("lang")?.as_deref() {
        None => "en".to_owned(),
        Some(lang @ ("en" | "fr")) => lang.to_owned(),
        Some(_) => return Err(ApiError::invalid("lang", "en or fr")),
    };
    let code = state.store.issue_token(id_user, TokenKind::Code, true, Some(CODE_TTL)).await?;
    let mut pairs = vec![("client_id".to_owned(), client.client_id), ("code".to_owned(), code.secret)];
    for name in PASSED_ON {
        if let Some(value) = query.str(name)? {
            pairs.push((name.to_owned(), value));
        }
    }
    let query = serde_urlencoded::to_string(&pairs).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(WebviewUrl { url: format!("{}/webview/{lang}/{flow}?{query}", state.public_url) }))
}

/// The link of the connect flow (add a bank) for the calling user.
#[utoipa::path(get, path = "/webview/connect-url", tag = "webview", security(("bearer" = [])),
    params(("redirect_uri" = String, Query, description = "registered for the client"), ("state" = Option<String>, Query),
        ("connector_uuids" = Option<String>, Query), ("connector_capabilities" = Option<String>, Query), ("lang" = Option<String>, Query, pattern = "^(en|fr)$", description = "en (default) or fr")),
    responses((status = 200, body = WebviewUrl), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn connect_url(
    State(state): State<AppState>,
    UserToken(token): UserToken,
    Query(query): Query,
) -> ApiResult<Json<WebviewUrl>> {
    build(&state, token.id_user, "connect", &query).await
}

/// The link of the reconnect flow (repair a connection) for the calling user.
#[utoipa::path(get, path = "/webview/reconnect-url", tag = "webview", security(("bearer" = [])),
    params(("redirect_uri" = String, Query), ("connection_id" = i64, Query, minimum = 1), ("state" = Option<String>, Query),
        ("reset_credentials" = Option<bool>, Query), ("lang" = Option<String>, Query, pattern = "^(en|fr)$")),
    responses((status = 200, body = WebviewUrl), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn reconnect_url(
    State(state): State<AppState>,
    UserToken(token): UserToken,
    Query(query): Query,
) -> ApiResult<Json<WebviewUrl>> {
    build(&state, token.id_user, "reconnect", &query).await
}

/// The link of the manage flow (the person's connections) for the calling user.
#[utoipa::path(get, path = "/webview/manage-url", tag = "webview", security(("bearer" = [])),
    params(("redirect_uri" = Option<String>, Query, description = "without it the pages have no way back"), ("state" = Option<String>, Query), ("lang" = Option<String>, Query, pattern = "^(en|fr)$")),
    responses((status = 200, body = WebviewUrl), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn manage_url(
    State(state): State<AppState>,
    UserToken(token): UserToken,
    Query(query): Query,
) -> ApiResult<Json<WebviewUrl>> {
    build(&state, token.id_user, "manage", &query).await
}
