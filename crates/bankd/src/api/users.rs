//! `/users`: the caller's own user (bearer token), or a client's users (HTTP Basic client credentials).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::extract::{Caller, Path};
use crate::state::AppState;
use crate::wire::UserView;
use crate::wire::error::{ApiError, ApiResult, ErrorBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_users)).routes(routes!(get_user, delete_user))
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    users: Vec<UserView>,
    total: usize,
}

/// The users a client application created (client credentials only).
#[utoipa::path(get, path = "/users", tag = "users", security(("client" = [])),
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_users(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<UserList>> {
    let Caller::Client(client) = caller else {
        return Err(ApiError::Forbidden("listing users needs client credentials".into()));
    };
    let users: Vec<UserView> =
        state.store.users_of_client(client.id).await?.iter().map(|u| UserView::new(u, &state.clock)).collect();
    Ok(Json(UserList { total: users.len(), users }))
}

/// One user: `me`, or an id the caller may reach.
#[utoipa::path(get, path = "/users/{id_user}", tag = "users", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path, description = "user id or `me`")),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id_user): Path<String>,
) -> ApiResult<Json<UserView>> {
    let id = caller.user_id(&state, &id_user).await?;
    let user = state.store.user(id).await?.ok_or_else(|| ApiError::not_found("userNotFound", "user"))?;
    Ok(Json(UserView::new(&user, &state.clock)))
}

/// Delete a user and everything it owns (connections, accounts, transactions, tokens).
#[utoipa::path(delete, path = "/users/{id_user}", tag = "users", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path, description = "user id or `me`")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id_user): Path<String>,
) -> ApiResult<StatusCode> {
    let id = caller.user_id(&state, &id_user).await?;
    if !state.store.delete_user(id).await? {
        return Err(ApiError::not_found("userNotFound", "user"));
    }
    Ok(StatusCode::NO_CONTENT)
}
