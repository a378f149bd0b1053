//! A SimpleFIN server (protocol version 1): the open protocol Actual Budget, Firefly III's data
//! importer and Home Assistant read bank data with, served from what bankd already holds.
//!
//! The dance: the user gets a setup token (`POST /2.0/users/me/simplefin/setup-token`, the webview's
//! manage page, or `bankd simplefin setup-token`): base64 of a one-use claim URL. The app `POST`s
//! on it once and receives an access URL, `scheme://USER:PASS@host/simplefin`, then calls
//! `{access}/accounts` with those credentials as HTTP Basic whenever it likes. Answers come from the
//! store, never from a bank: apps poll often (Firefly asks per account in 44-day slices).
//!
//! This is a third front end beside the API and the webview, with its own wire format
//! ([`body`]): what SimpleFIN's clients parse, not Powens'.

mod body;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::http::extract::Throttle;
use crate::state::AppState;
use crate::store::StoreError;
use body::{AccountSet, Window};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/simplefin/claim/{token}", post(claim))
        .route("/simplefin/info", get(info))
        .route("/simplefin/accounts", get(accounts))
}

/// Why a SimpleFIN request fails: SimpleFIN clients read the status (403 means "claim again").
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("forbidden")]
    Forbidden,
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = match &self {
            Refusal::Forbidden => StatusCode::FORBIDDEN,
            Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::Store(e) => {
                tracing::error!(error = %e, "simplefin: the store failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, self.to_string()).into_response()
    }
}

/// `POST /simplefin/claim/{token}`: the access URL, as the plain body (no trailing newline), once.
async fn claim(_: Throttle, State(state): State<AppState>, Path(token): Path<String>) -> Result<String, Refusal> {
    let access = state.store.claim_simplefin(&token).await?.ok_or(Refusal::Forbidden)?;
    let (scheme, rest) = state.public_url.split_once("://").unwrap_or(("http", &state.public_url));
    Ok(format!("{scheme}://{}:{}@{rest}/simplefin", access.username, access.password))
}

/// `GET {access}/info`: the protocol versions served.
async fn info() -> Json<serde_json::Value> {
    Json(serde_json::json!({"versions": ["1"]}))
}

/// `GET {access}/accounts?start-date=&end-date=&pending=1&account=…&balances-only=1`.
async fn accounts(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<AccountSet>, Refusal> {
    let (username, password) = basic_credentials(&headers).ok_or(Refusal::Forbidden)?;
    let access = state.store.simplefin_access(&username, &password).await?.ok_or(Refusal::Forbidden)?;
    let window = Window::parse(query.as_deref().unwrap_or("")).map_err(Refusal::BadRequest)?;
    Ok(Json(body::account_set(&state, access.id_user, &window).await?))
}

/// `Authorization: Basic base64(user:pass)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let header = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}
