//! A statement file a person hands over, imported into their Statement-files connection with the
//! options of the form that carried it (`format`, `id_connection`, a CSV mapping). The API's upload
//! and the webview's both import through here, so a file is read the same way whichever way it came.

use crate::import::{ImportError, ImportOptions, Imported, import};
use crate::state::AppState;
use crate::wire::error::{ApiError, ApiResult};
use crate::wire::params::{Params, parse_id};

/// Imports a received file with the form's options (`format`, `id_connection`, `csv`). The API and
/// the webview import through this.
pub async fn import_received(
    state: &AppState,
    id_user: i64,
    file: std::fs::File,
    fields: &Params,
) -> ApiResult<Imported> {
    let options = ImportOptions {
        format: match fields.str("format")?.as_deref() {
            None | Some("auto") => None,
            Some(name) => Some(
                statements::Format::from_name(name)
                    .ok_or_else(|| ApiError::invalid("format", "auto, ofx, camt, mt940, qif or csv"))?,
            ),
        },
        id_connection: fields.str("id_connection")?.map(|id| parse_id(&id, "id_connection")).transpose()?,
        parse: statements::Options {
            csv: fields
                .str("csv")?
                .map(|json| crate::import::csv_mapping(&json))
                .transpose()
                .map_err(|why| ApiError::invalid("csv", why))?,
        },
    };
    import(&state.store, &state.catalog, state.key(), id_user, file, options).await.map_err(|e| match e {
        ImportError::Invalid(e) => ApiError::InvalidStatement(e),
        ImportError::UnknownFormat => ApiError::invalid("format", e.to_string()),
        ImportError::NotAStatementConnection(_) => ApiError::invalid("id_connection", e.to_string()),
        ImportError::Amount(_) => ApiError::invalid("file", e.to_string()),
        ImportError::Store(e) => e.into(),
        other => ApiError::Internal(other.into()),
    })
}
