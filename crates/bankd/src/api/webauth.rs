//! Web authentication: when a bank wants the user on its own page (a redirect, OAuth-like), the
//! user goes there and comes back through bankd, which resumes the sync with the bank's answer.
//!
//! `GET /webauth-url` (user token) hands the bank page's URL to an app; `GET /webauth` (a
//! temporary code in the query) sends a browser there directly. Either way the client app's
//! registered `redirect_uri` is where the user lands at the end, with `id_connection` and `state`,
//! or `error` and `error_description`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::extract::{Query, Throttle, UserToken};
use crate::sources::UserInput;
use crate::state::AppState;
use crate::store::connections::WebauthRequest;
use crate::sync::SyncRequest;
use crate::sync::engine::Requested;
use crate::usecases::connections::request_sync;
use crate::wire::error::{ApiError, ApiResult, ErrorBody, TooManyRequests};
use crate::wire::params::{Params, parse_id};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(webauth_url)).routes(routes!(webauth)).routes(routes!(callback))
}

#[derive(Serialize, ToSchema)]
pub struct WebauthUrl {
    url: String,
}

/// Checks the journey's parameters and records where it ends; returns the bank page's URL.
async fn prepare(state: &AppState, id_user: i64, query: &Params) -> ApiResult<String> {
    let client_id = query.require_str("client_id")?;
    let redirect_uri = query.require_str("redirect_uri")?;
    let client = state
        .store
        .client_by_client_id(&client_id)
        .await?
        .ok_or_else(|| ApiError::invalid("client_id", "unknown client"))?;
    if !state.store.client_redirect_uris(client.id).await?.contains(&redirect_uri) {
        return Err(ApiError::invalid("redirect_uri", "not registered for this client"));
    }
    let id_connection = parse_id(&query.require_str("id_connection")?, "id_connection")?;
    let connection = state
        .store
        .connection(id_user, id_connection)
        .await?
        .ok_or_else(|| ApiError::not_found("connectionNotFound", "connection"))?;
    let pending = match (connection.state.as_deref(), state.store.latest_webauth_request(connection.id).await?) {
        (Some("webauthRequired"), Some(pending)) => pending,
        _ => {
            return Err(ApiError::Conflict("the connection does not need a web authentication".into()));
        }
    };
    let client_state = query.str("state")?;
    state.store.set_webauth_return(&pending.state, &redirect_uri, client_state.as_deref()).await?;
    Ok(pending.bank_url)
}

/// The URL of the bank's page for a connection waiting in `webauthRequired`.
#[utoipa::path(get, path = "/webauth-url", tag = "connections", security(("bearer" = [])),
    params(("client_id" = String, Query), ("redirect_uri" = String, Query, description = "registered for the client"),
        ("id_connection" = i64, Query, minimum = 1), ("state" = Option<String>, Query, description = "echoed back to redirect_uri")),
    responses((status = 200, body = WebauthUrl), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn webauth_url(
    State(state): State<AppState>,
    UserToken(token): UserToken,
    Query(query): Query,
) -> ApiResult<Json<WebauthUrl>> {
    Ok(Json(WebauthUrl { url: prepare(&state, token.id_user, &query).await? }))
}

/// Browser entry: redirects to the bank's page (`token` is a temporary code of the user).
#[utoipa::path(get, path = "/webauth", tag = "connections",
    params(("client_id" = String, Query), ("token" = String, Query, description = "temporary code from /auth/token/code"),
        ("redirect_uri" = String, Query), ("id_connection" = i64, Query, minimum = 1), ("state" = Option<String>, Query)),
    responses((status = 302, description = "to the bank's page"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn webauth(State(state): State<AppState>, Query(query): Query) -> ApiResult<Response> {
    let code = query.require_str("token")?;
    let token = state.store.find_token(&code).await?.ok_or(ApiError::InvalidToken)?;
    let url = prepare(&state, token.id_user, &query).await?;
    Ok(redirect(&url))
}

/// Where the bank's page sends the user back, with its `state` and a `code` (or an `error`).
#[utoipa::path(get, path = "/webauth/callback", tag = "connections",
    params(("state" = String, Query), ("code" = Option<String>, Query), ("error" = Option<String>, Query)),
    responses((status = 302, description = "to the client's redirect_uri"), (status = 200, description = "no redirect_uri was given: the outcome as JSON"), (status = 400, body = ErrorBody), TooManyRequests))]
async fn callback(_: Throttle, State(state): State<AppState>, Query(query): Query) -> ApiResult<Response> {
    let bank_state = query.require_str("state")?;
    let request = state
        .store
        .take_webauth_request(&bank_state)
        .await?
        .ok_or_else(|| ApiError::invalid("state", "unknown or already used"))?;
    let connection = state
        .store
        .connection_by_id(request.id_connection)
        .await?
        .ok_or_else(|| ApiError::not_found("connectionNotFound", "connection"))?;
    if let Some(error) = query.str("error")? {
        return Ok(finish(&request, Err((error, "the user did not authorize access at the bank".into()))));
    }
    // Banks that redirect without a code (XS2A) are asked by the source whether the user agreed.
    let code = query.str("code")?.unwrap_or_default();
    let input = UserInput { webauth_code: Some(code), authenticating: true, ..UserInput::default() };
    let sync = SyncRequest { input, ..SyncRequest::default() };
    let result = match request_sync(&state, &connection, &sync, true).await? {
        // Still running: the connection will tell.
        Requested::Done(None) | Requested::Pending => Ok(connection.id),
        Requested::Done(Some(failed)) => {
            let message = state.store.connection_by_id(connection.id).await?.and_then(|c| c.error_message);
            Err((failed.as_str().to_owned(), message.unwrap_or_else(|| failed.as_str().to_owned())))
        }
    };
    Ok(finish(&request, result))
}

/// Ends the journey at the client's `redirect_uri`, or as JSON when there is none.
fn finish(request: &WebauthRequest, result: Result<i64, (String, String)>) -> Response {
    let mut pairs: Vec<(&str, String)> = match &result {
        Ok(id) => vec![("id_connection", id.to_string())],
        Err((error, description)) => vec![("error", error.clone()), ("error_description", description.clone())],
    };
    if let Some(client_state) = &request.client_state {
        pairs.push(("state", client_state.clone()));
    }
    match &request.redirect_uri {
        Some(uri) => {
            let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            redirect(&format!("{uri}?{query}"))
        }
        None => {
            let body: serde_json::Map<String, serde_json::Value> =
                pairs.into_iter().map(|(k, v)| (k.to_owned(), serde_json::Value::String(v))).collect();
            Json(body).into_response()
        }
    }
}

fn redirect(url: &str) -> Response {
    (StatusCode::FOUND, [(LOCATION, url.to_owned())]).into_response()
}
