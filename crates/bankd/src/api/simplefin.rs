//! `/users/{id_user}/simplefin`: the user's SimpleFIN setup tokens and access URLs (bankd's
//! extension: SimpleFIN itself is served by the `simplefin` front end).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::extract::{Caller, Path};
use crate::state::AppState;
use crate::store::simplefin::Access;
use crate::usecases::simplefin::setup_token;
use crate::wire::ApiClock;
use crate::wire::error::{ApiError, ApiResult, ErrorBody};
use crate::wire::params::parse_id;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_setup_token)).routes(routes!(list_access)).routes(routes!(revoke_access))
}

#[derive(Serialize, ToSchema)]
pub struct SetupToken {
    /// Base64 of a one-use claim URL, valid 24 hours: paste it into the budgeting app.
    setup_token: String,
}

/// An access URL, without its secret.
#[derive(Serialize, ToSchema)]
pub struct AccessView {
    id: i64,
    created: String,
    /// When an app last read the accounts with it.
    last_used: Option<String>,
}

impl AccessView {
    fn new(access: &Access, clock: &ApiClock) -> AccessView {
        AccessView {
            id: access.id,
            created: clock.datetime(access.created),
            last_used: clock.opt_datetime(access.last_used),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccessList {
    access: Vec<AccessView>,
}

/// A SimpleFIN setup token, for Actual Budget, Firefly III's data importer or Home Assistant.
#[utoipa::path(post, path = "/users/{id_user}/simplefin/setup-token", tag = "simplefin", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path, description = "user id or `me`")),
    responses((status = 200, body = SetupToken), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_setup_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<SetupToken>> {
    let id_user = caller.user_id(&state, &user).await?;
    Ok(Json(SetupToken { setup_token: setup_token(&state.store, &state.public_url, id_user).await? }))
}

/// The user's SimpleFIN access URLs still valid (never their secrets).
#[utoipa::path(get, path = "/users/{id_user}/simplefin/access", tag = "simplefin", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path, description = "user id or `me`")),
    responses((status = 200, body = AccessList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_access(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<AccessList>> {
    let id_user = caller.user_id(&state, &user).await?;
    let access = state.store.simplefin_accesses(id_user).await?;
    Ok(Json(AccessList { access: access.iter().map(|a| AccessView::new(a, &state.clock)).collect() }))
}

/// Revoke an access URL: its app is refused (403) from now on.
#[utoipa::path(delete, path = "/users/{id_user}/simplefin/access/{id_access}", tag = "simplefin", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path, description = "user id or `me`"), ("id_access" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_access(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id_user = caller.user_id(&state, &user).await?;
    let id = parse_id(&id, "id_access")?;
    if !state.store.revoke_simplefin_access(id_user, id).await? {
        return Err(ApiError::not_found("accessNotFound", "SimpleFIN access"));
    }
    Ok(StatusCode::NO_CONTENT)
}
