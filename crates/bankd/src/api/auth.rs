//! `/auth/*`: creating users and handing out tokens (shared/api/auth.md).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Duration;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::extract::{Body, Query, UserToken};
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::users::TokenKind;
use crate::wire::error::{ApiError, ApiResult, ErrorBody};
use crate::wire::params::{Params, parse_id};

/// Life of temporary tokens and codes (Powens: 30 minutes).
const TEMPORARY_TTL_SECONDS: i64 = 1800;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(init))
        .routes(routes!(code, code_post))
        .routes(routes!(access))
        .routes(routes!(renew))
        .routes(routes!(revoke))
}

#[derive(Serialize, ToSchema)]
pub struct AuthToken {
    auth_token: String,
    /// `permanent` or `temporary`.
    r#type: &'static str,
    id_user: i64,
    /// Seconds before a temporary token expires; absent for a permanent one, which does not (Powens'
    /// generated SDKs refuse a `null` here).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    expires_in: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AccessToken {
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct AuthCode {
    code: String,
    /// Always `temporary`.
    r#type: &'static str,
    /// `single` (one use) or `standard`.
    access: &'static str,
    expires_in: i64,
}

/// The client named by `client_id` + `client_secret` in the body; both are required.
async fn client_from(state: &AppState, params: &Params) -> ApiResult<Client> {
    let client_id = params.require_str("client_id")?;
    let secret = params.require_str("client_secret")?;
    state
        .store
        .authenticate_client(&client_id, &secret)
        .await?
        .ok_or_else(|| ApiError::invalid("client_secret", "unknown client_id or wrong client_secret"))
}

/// Create a user and its first token: permanent with client credentials, else temporary (30 min).
#[utoipa::path(post, path = "/auth/init", tag = "auth",
    request_body(content = inline(Object), description = "`client_id`, `client_secret` (JSON or form)"),
    responses((status = 200, body = AuthToken), (status = 400, body = ErrorBody)))]
async fn init(State(state): State<AppState>, Body(params): Body) -> ApiResult<Json<AuthToken>> {
    let anonymous = !params.contains("client_id") && !params.contains("client_secret");
    let (client, kind, ttl) = if anonymous {
        (None, TokenKind::Temporary, Some(Duration::seconds(TEMPORARY_TTL_SECONDS)))
    } else {
        (Some(client_from(&state, &params).await?), TokenKind::Permanent, None)
    };
    let user = state.store.create_user(client.map(|c| c.id), "web").await?;
    let token = state.store.issue_token(user.id, kind, false, ttl).await?;
    Ok(Json(AuthToken {
        auth_token: token.secret,
        r#type: if anonymous { "temporary" } else { "permanent" },
        id_user: user.id,
        expires_in: token.expires_in,
    }))
}

/// A temporary code for the calling user: `type=singleAccess` (one use, for webview URLs) or
/// `requestAccess` (the default, reusable until it expires).
#[utoipa::path(get, path = "/auth/token/code", tag = "auth", security(("bearer" = [])),
    params(("type" = Option<String>, Query, description = "`requestAccess` (default) or `singleAccess`")),
    responses((status = 200, body = AuthCode), (status = 401, body = ErrorBody)))]
async fn code(
    State(state): State<AppState>,
    UserToken(token): UserToken,
    Query(query): Query,
) -> ApiResult<Json<AuthCode>> {
    let single = match query.str("type")?.as_deref() {
        None | Some("requestAccess") => false,
        Some("singleAccess") => true,
        Some(other) => {
            return Err(ApiError::invalid("type", format!("'{other}' is neither requestAccess nor singleAccess")));
        }
    };
    if token.kind == TokenKind::Code {
        return Err(ApiError::Forbidden("a temporary code cannot mint other codes".into()));
    }
    let ttl = Duration::seconds(TEMPORARY_TTL_SECONDS);
    let code = state.store.issue_token(token.id_user, TokenKind::Code, single, Some(ttl)).await?;
    Ok(Json(AuthCode {
        code: code.secret,
        r#type: "temporary",
        access: if single { "single" } else { "standard" },
        expires_in: TEMPORARY_TTL_SECONDS,
    }))
}

/// Legacy spelling of `GET /auth/token/code`.
#[utoipa::path(post, path = "/auth/token/code", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = AuthCode), (status = 401, body = ErrorBody)))]
async fn code_post(state: State<AppState>, token: UserToken, query: Query) -> ApiResult<Json<AuthCode>> {
    code(state, token, query).await
}

/// Exchange a temporary code for a permanent token of the code's user.
#[utoipa::path(post, path = "/auth/token/access", tag = "auth",
    request_body(content = inline(Object), description = "`client_id`, `client_secret`, `code`, optional `grant_type` (`authorization_code`) and `redirect_uri`"),
    responses((status = 200, body = AccessToken), (status = 400, body = ErrorBody)))]
async fn access(State(state): State<AppState>, Body(params): Body) -> ApiResult<Json<AccessToken>> {
    expect_grant(&params, "authorization_code")?;
    let client = client_from(&state, &params).await?;
    let code = params.require_str("code")?;
    if let Some(uri) = params.str("redirect_uri")?
        && !state.store.client_redirect_uris(client.id).await?.contains(&uri)
    {
        return Err(ApiError::invalid("redirect_uri", "not registered for this client"));
    }
    let unusable = || ApiError::invalid("code", "unknown, expired or already used");
    let code = state.store.find_code(&code).await?.ok_or_else(unusable)?;
    let user = state.store.user(code.id_user).await?.ok_or_else(|| ApiError::invalid("code", "its user is gone"))?;
    // Whose code it is is checked before it is spent: another app must not burn a user's code.
    if user.id_client.is_some_and(|owner| owner != client.id) {
        return Err(ApiError::invalid("code", "issued for a user of another client"));
    }
    if !state.store.take_code(&code).await? {
        return Err(unusable());
    }
    // An anonymous user (temporary token) becomes the client's for good.
    if user.id_client.is_none() {
        state.store.adopt_user(user.id, client.id).await?;
    }
    let token = state.store.issue_token(user.id, TokenKind::Permanent, false, None).await?;
    Ok(Json(AccessToken { access_token: token.secret, token_type: "Bearer" }))
}

/// A new permanent token for one of the client's users (a new user when `id_user` is absent).
#[utoipa::path(post, path = "/auth/renew", tag = "auth",
    request_body(content = inline(Object), description = "`grant_type` (`client_credentials`), `client_id`, `client_secret`, `id_user`, `revoke_previous`"),
    responses((status = 200, body = AccessToken), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn renew(State(state): State<AppState>, Body(params): Body) -> ApiResult<Json<AccessToken>> {
    expect_grant(&params, "client_credentials")?;
    let client = client_from(&state, &params).await?;
    let revoke_previous = params.flag("revoke_previous")?;
    let id_user = match params.str("id_user")? {
        Some(id) => {
            let id = parse_id(&id, "id_user")?;
            match state.store.user(id).await? {
                Some(user) if user.id_client == Some(client.id) => user.id,
                _ => return Err(ApiError::not_found("userNotFound", "user")),
            }
        }
        None => state.store.create_user(Some(client.id), "web").await?.id,
    };
    let token = state.store.renew_permanent_token(id_user, revoke_previous).await?;
    Ok(Json(AccessToken { access_token: token.secret, token_type: "Bearer" }))
}

/// Revoke the calling token.
#[utoipa::path(delete, path = "/auth/token", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn revoke(State(state): State<AppState>, UserToken(token): UserToken) -> ApiResult<StatusCode> {
    state.store.revoke_token(token.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn expect_grant(params: &Params, expected: &str) -> ApiResult<()> {
    match params.str("grant_type")? {
        Some(grant) if grant != expected => Err(ApiError::invalid("grant_type", format!("must be '{expected}'"))),
        _ => Ok(()),
    }
}
