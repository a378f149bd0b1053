//! The state every HTTP surface shares — the API's handlers, the webview's pages, the operator
//! endpoints — built once by `startup`. It sits below all of them, so none has to import another to
//! reach the store or the sync engine.

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::limits::RateLimits;
use crate::store::Store;
use crate::sync::engine::Engine;
use crate::wire::ApiClock;

/// What every handler and page can reach. axum clones it for every extractor of every request:
/// one `Arc`, not the drivers' map and the URLs each time (that showed in the API's profiles).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub clock: ApiClock,
    pub catalog: Arc<Catalog>,
    pub engine: Engine,
    /// Base of the absolute links the API and the webview hand out.
    pub public_url: String,
    /// Attempts on the routes that take secrets, per address and per client application.
    pub limits: Arc<RateLimits>,
}

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Shared {
    /// The master key sealing secrets at rest (credentials, sessions, cookies).
    pub fn key(&self) -> &MasterKey {
        &self.engine.syncer.key
    }
}
