//! SimpleFIN setup tokens, for the API, the webview's manage page and the command line alike.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::store::{Store, StoreResult};

/// How long a setup token can be claimed.
const CLAIMABLE: chrono::Duration = chrono::Duration::hours(24);

/// A one-use SimpleFIN setup token of the user: base64 of the claim URL on `public_url`, whose
/// path ends in `/simplefin/claim/<token>` (Firefly III's importer checks that shape).
pub async fn setup_token(store: &Store, public_url: &str, id_user: i64) -> StoreResult<String> {
    let token = store.create_simplefin_claim(id_user, crate::store::now() + CLAIMABLE).await?;
    Ok(STANDARD.encode(format!("{public_url}/simplefin/claim/{token}")))
}
