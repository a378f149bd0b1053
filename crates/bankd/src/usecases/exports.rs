//! A user's statements exported, for the API and the command line alike: which accounts, checked
//! against the format, then the file written by a task of its own into a channel the caller drains.

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::catalog::Catalog;
use crate::export::{self, Format};
use crate::store::Store;
use crate::store::accounts::AccountScope;
use crate::store::transactions::DateWindow;
use crate::wire::error::{ApiError, ApiResult};

/// The file as it is written: chunks, or an error that ends it (the reader sees a broken body
/// rather than a file cut short in silence).
pub type Chunks = mpsc::Receiver<Result<Bytes, std::io::Error>>;

/// Starts exporting the user's account `only` (else all their enabled, present accounts) in
/// `format` over `window`.
pub async fn export(
    store: &Store,
    catalog: &Catalog,
    id_user: i64,
    only: Option<i64>,
    format: Format,
    window: DateWindow,
) -> ApiResult<Chunks> {
    let accounts = match only {
        Some(id) => {
            vec![store.account(id_user, id).await?.ok_or_else(|| ApiError::not_found("accountNotFound", "account"))?]
        }
        None => store.accounts(AccountScope { id_user, id_connection: None, all: false }).await?,
    };
    if accounts.len() > 1 && !format.holds_several_accounts() {
        return Err(ApiError::invalid("format", "a CSV file holds one account: export one account at a time"));
    }
    let connections = store.connections_of_user(id_user, true).await?;
    let with_connectors = accounts
        .into_iter()
        .map(|a| {
            let id_connector = connections.iter().find(|c| c.id == a.id_connection).map_or(0, |c| c.id_connector);
            (a, id_connector)
        })
        .collect();
    let statements = export::statements(store, catalog, with_connectors, &window).await?;
    let (sender, chunks) = mpsc::channel(4);
    let store = store.clone();
    tokio::spawn(async move {
        if let Err(e) = export::write(&store, format, &statements, &window, sender.clone()).await {
            tracing::error!(error = %e, "export failed");
            _ = sender.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    Ok(chunks)
}
