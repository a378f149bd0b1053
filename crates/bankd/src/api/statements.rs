//! `POST /users/{id_user}/statements`: a statement file uploaded, imported into the user's
//! Statement-files connection (see `crate::import`). The file is spooled to a temporary file as it
//! arrives, so neither a large upload nor its parsing holds it in memory; one over the upload limit
//! is refused before anything is parsed.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::extract::{Caller, Path, receive_upload, too_large};
use crate::state::AppState;
use crate::usecases::statements::import_received;
use crate::wire::error::{ApiError, ApiResult, ErrorBody};
use crate::wire::{AccountView, ConnectionView, WarningView};

pub fn routes(max_upload_bytes: u64) -> OpenApiRouter<AppState> {
    // The handler counts the file's bytes itself; the form's few other fields fit in a megabyte.
    let limit = usize::try_from(max_upload_bytes).unwrap_or(usize::MAX).saturating_add(1 << 20);
    OpenApiRouter::new().routes(routes!(upload)).layer(DefaultBodyLimit::max(limit))
}

/// What an import did.
#[derive(Serialize, ToSchema)]
pub struct ImportView {
    connection: ConnectionView,
    /// The accounts the file is about.
    accounts: Vec<AccountView>,
    /// `ofx`, `camt`, `mt940`, `qif` or `csv`.
    format: String,
    /// Statements read in the file.
    statements: usize,
    /// Transactions added, updated (a pending one now booked, say), and already there unchanged.
    added: i64,
    updated: i64,
    unchanged: i64,
    /// Where the file bends its format's standard and was read anyway, with what was assumed (the
    /// first 100; empty for a file read as written).
    warnings: Vec<WarningView>,
    /// Warnings after the first 100, counted but not kept (absent when none were).
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings_omitted: Option<u64>,
}

/// Import a statement file (OFX/QFX, camt.052/053, MT940/MT942, QIF or CSV) into the user's
/// Statement-files connection: its accounts (enabled: the upload is the consent) and transactions.
/// Re-importing the same or an overlapping file adds nothing. A file that bends its format's standard
/// where only one reading is possible is read, and each deviation comes back in `warnings`; one that
/// cannot be read without guessing is refused.
#[utoipa::path(post, path = "/users/{id_user}/statements", tag = "statements", security(("bearer" = []), ("client" = [])),
    params(("id_user" = String, Path, description = "user id or `me`")),
    request_body(content_type = "multipart/form-data", content = inline(Object),
        description = "`file` (the statement), optional `id_connection`, `format` (auto|ofx|camt|mt940|qif|csv), and for CSV an optional `csv` mapping in JSON (guessed from the header otherwise): `{\"delimiter\": \";\", \"decimal_comma\": true, \"date_format\": \"%d/%m/%Y\", \"date\": \"Date\", \"amount\": \"Montant\", \"wording\": [\"Libellé\"]}` (a column is a header name or an index; `debit` and `credit` replace `amount`)"),
    responses((status = 201, body = ImportView), (status = 400, body = ErrorBody, description = "`invalidStatement`: the format, where and why"),
        (status = 413, body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<ImportView>)> {
    // Whose statements these would be is settled before the body is looked at, and a body that is
    // not a multipart form gets the envelope, not axum's plain text.
    let id_user = caller.user_id(&state, &user).await?;
    let multipart = multipart.map_err(|e| ApiError::invalid("body", e.body_text()))?;
    let limit = state.settings.max_upload_bytes;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit.saturating_add(1 << 20)) {
        return Err(too_large(limit));
    }
    let (file, fields) = receive_upload(multipart, limit).await?;
    let imported = import_received(&state, id_user, file, &fields).await?;
    let connector = state.catalog.connector(imported.connection.id_connector);
    let mut accounts = Vec::with_capacity(imported.accounts.len());
    for id in &imported.accounts {
        if let Some(account) = state.store.account(id_user, *id).await? {
            accounts.push(AccountView::new(&account, &state.clock));
        }
    }
    let view = ImportView {
        connection: ConnectionView::new(&imported.connection, connector, &state.clock),
        accounts,
        format: imported.format.name().to_owned(),
        statements: imported.statements,
        added: imported.added,
        updated: imported.updated,
        unchanged: imported.unchanged,
        warnings: imported.warnings.kept().iter().map(WarningView::from).collect(),
        warnings_omitted: Some(imported.warnings.omitted()).filter(|omitted| *omitted > 0),
    };
    Ok((StatusCode::CREATED, Json(view)))
}
