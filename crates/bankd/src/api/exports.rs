//! `/users/{id_user}/accounts/{id_account}/export` and `/users/{id_user}/export`: statements as
//! OFX, camt.053, CSV, beancount or ledger (bankd's extension), streamed as they are written.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::export::Format;
use crate::http::extract::{Caller, Path, Query};
use crate::state::AppState;
use crate::store::transactions::DateWindow;
use crate::usecases::exports::{Chunks, export};
use crate::wire::error::{ApiError, ApiResult, ErrorBody};
use crate::wire::params::{Params, parse_id};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export_account)).routes(routes!(export_user))
}

/// One account's booked transactions and balances as a statement file.
#[utoipa::path(get, path = "/users/{id_user}/accounts/{id_account}/export", tag = "exports", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path), ("id_account" = i64, Path),
        ("format" = String, Query, description = "`ofx` (2.2), `camt053` (camt.053.001.08), `csv`, `beancount` or `ledger`"),
        ("min_date" = Option<String>, Query, description = "first day (YYYY-MM-DD)"),
        ("max_date" = Option<String>, Query, description = "last day (YYYY-MM-DD), included")),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export_account(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    Query(query): Query,
) -> ApiResult<Response> {
    let id_user = caller.user_id(&state, &user).await?;
    let id = parse_id(&id, "id_account")?;
    respond(&state, id_user, Some(id), &query).await
}

/// All of the user's enabled accounts in one file (not in CSV, which holds one account).
#[utoipa::path(get, path = "/users/{id_user}/export", tag = "exports", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path),
        ("format" = String, Query, description = "`ofx`, `camt053`, `beancount` or `ledger`"),
        ("min_date" = Option<String>, Query), ("max_date" = Option<String>, Query)),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 400, body = ErrorBody)))]
async fn export_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Query(query): Query,
) -> ApiResult<Response> {
    let id_user = caller.user_id(&state, &user).await?;
    respond(&state, id_user, None, &query).await
}

async fn respond(state: &AppState, id_user: i64, only: Option<i64>, query: &Params) -> ApiResult<Response> {
    let format = query.require_str("format")?;
    let format =
        Format::parse(&format).ok_or_else(|| ApiError::invalid("format", "ofx, camt053, csv, beancount or ledger"))?;
    let window =
        DateWindow { from: day(query, "min_date")?, until: day(query, "max_date")?.and_then(|last| last.succ_opt()) };
    let chunks = export(&state.store, &state.catalog, id_user, only, format, window).await?;
    let name = format!(
        "bankd-{}.{}",
        only.map_or_else(|| format!("user-{id_user}"), |id| format!("account-{id}")),
        format.extension()
    );
    let headers = [
        (CONTENT_TYPE, format.content_type().to_owned()),
        (CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
    ];
    Ok((headers, Body::from_stream(stream(chunks))).into_response())
}

fn day(query: &Params, name: &str) -> ApiResult<Option<NaiveDate>> {
    let text = query.str(name)?.filter(|t| !t.is_empty());
    text.map(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|_| ApiError::invalid(name, "expected YYYY-MM-DD")))
        .transpose()
}

fn stream(chunks: Chunks) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures::stream::unfold(chunks, |mut chunks| async move { chunks.recv().await.map(|chunk| (chunk, chunks)) })
}
