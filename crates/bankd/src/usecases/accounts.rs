//! An account under its owner's control: consent (GDPR) given or withdrawn, and the other edits.
//! Enabling an account fetches its data at once, for the API's edit and the webview's choices alike.

use super::connections::request_sync;
use crate::state::AppState;
use crate::store::accounts::AccountEdit;
use crate::store::rows::Account;
use crate::sync::SyncRequest;
use crate::wire::error::{ApiError, ApiResult};

/// The user's consent to sharing an account (GDPR): enables or disables it. The API's account
/// edit and the webview's account choices go through the same rule.
pub async fn consent(state: &AppState, account: &Account, enabled: bool) -> ApiResult<()> {
    edit_account(state, account, &AccountEdit { disabled: Some(!enabled), ..AccountEdit::default() }).await
}

/// Applies the owner's edit of an account; enabling it fetches its data at once.
pub async fn edit_account(state: &AppState, account: &Account, edit: &AccountEdit) -> ApiResult<()> {
    state.store.edit_account(account, edit).await?;
    sync_if_enabled(state, account, edit.disabled).await
}

/// An account the user just enabled has its data fetched now. If a sync holds the connection, the
/// account stays enabled and the next sync fetches it.
///
/// The consent is written before the sync is queued: a process killed in between leaves an enabled
/// account nothing will fetch. A client repeating the enable (what it does when it got no answer)
/// queues the fetch again for as long as the account was never fetched.
async fn sync_if_enabled(state: &AppState, account: &Account, disabled: Option<bool>) -> ApiResult<()> {
    let never_fetched = account.last_update.is_none();
    if disabled != Some(false) || (account.disabled.is_none() && !never_fetched) {
        return Ok(());
    }
    let connection = state
        .store
        .connection(account.id_user, account.id_connection)
        .await?
        .ok_or_else(|| ApiError::not_found("connectionNotFound", "connection"))?;
    let request = SyncRequest { only_account: Some(account.id), ..SyncRequest::default() };
    match request_sync(state, &connection, &request, true).await {
        Ok(_) | Err(ApiError::ConnectionLocked) => Ok(()),
        Err(e) => Err(e),
    }
}
