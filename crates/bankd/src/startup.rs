//! Builds the running server from [`Settings`]: data dir, database (migrated), router, listener.
//! Production (`bankd serve`) and the integration tests go through the same [`App::build`].

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::api::wire::ApiClock;
use crate::api::{self, AppState};
use crate::catalog::Catalog;
use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::sources::Drivers;
use crate::store::Store;
use crate::sync::Syncer;

pub struct App {
    listener: TcpListener,
    state: AppState,
}

impl App {
    pub async fn build(mut settings: Settings) -> anyhow::Result<App> {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
        let catalog = Arc::new(Catalog::load(settings.catalog.as_deref(), settings.sandbox)?);
        let key = Arc::new(MasterKey::load(std::env::var("BANKD_MASTER_KEY").ok().as_deref(), &settings.data_dir)?);
        let store = open_store(&settings).await?;
        let listener =
            TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
        // With port 0 the real address is known only now.
        settings.listen = listener.local_addr()?;
        let clock = ApiClock { tz: settings.api_timezone };
        let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.listen));
        let public_url = public_url.trim_end_matches('/').to_owned();
        let syncer = Syncer {
            store: store.clone(),
            catalog: catalog.clone(),
            drivers: Drivers::new(&public_url),
            key,
            webauth_callback: format!("{public_url}/2.0/webauth/callback"),
        };
        let state = AppState { store, settings: Arc::new(settings), clock, catalog, syncer, public_url };
        Ok(App { listener, state })
    }

    pub fn port(&self) -> u16 {
        self.state.settings.listen.port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(
            listen = %self.state.settings.listen,
            database = self.state.store.backend_name(),
            "bankd serving"
        );
        let router = api::router(self.state);
        axum::serve(self.listener, router).with_graceful_shutdown(shutdown).await?;
        Ok(())
    }
}

/// Connects to the configured database and applies pending migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let url = settings.database_url();
    let store = Store::connect(&url).await.context("connecting to the database")?;
    store.migrate().await.context("applying database migrations")?;
    Ok(store)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
