//! Builds the running server from [`Settings`]: data dir, database (migrated), router, listener.
//! Production (`bankd serve`) and the integration tests go through the same [`App::build`].

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::api::wire::ApiClock;
use crate::api::{self, AppState};
use crate::config::Settings;
use crate::store::Store;

pub struct App {
    listener: TcpListener,
    state: AppState,
}

impl App {
    pub async fn build(mut settings: Settings) -> anyhow::Result<App> {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
        let store = open_store(&settings).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        // With port 0 the real address is known only now.
        settings.listen = listener.local_addr()?;
        let clock = ApiClock {
            tz: settings.api_timezone,
        };
        let state = AppState {
            store,
            settings: Arc::new(settings),
            clock,
        };
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
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await?;
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
