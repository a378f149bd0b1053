//! The composition root: builds the running server from [`Settings`] — data dir, database
//! (migrated), catalog, master key, sync engine, the one router of every HTTP surface, the listener —
//! and starts the background tasks (sync workers, scheduler, webhook deliveries). Production
//! (`bankd serve`, `bankd worker`) and the integration tests go through the same functions.
//!
//! It is the only module that knows every room: the API, the webview, the simulated banks and the
//! operator endpoints are mounted side by side here, none of them mounting another.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::http::header::STRICT_TRANSPORT_SECURITY;
use axum::middleware;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::http::extract::BodyLimit;
use crate::http::middleware::{limit_body, method_not_allowed, not_found, panic_envelope, request_context};
use crate::limits::RateLimits;
use crate::simulators::sandbox_bank::SandboxBank;
use crate::sources::fints::FintsRuntime;
use crate::sources::psd2::registration::Registrations;
use crate::sources::woob::helper::WoobRuntime;
use crate::sources::woob::modules::{self, ModuleInfo};
use crate::sources::{DriverContext, Drivers, Source, Timeouts};
use crate::state::{AppState, Shared};
use crate::store::Store;
use crate::store::psd2::SealedRegistrations;
use crate::sync::engine::Engine;
use crate::sync::{Syncer, scheduler, worker};
use crate::webhooks::client::WebhookClient;
use crate::webhooks::delivery::Deliverer;
use crate::webhooks::payload::Renderer;
use crate::wire::ApiClock;

/// How long a stopping process lets its running syncs finish; past it, their leases will hand
/// them to another worker.
const DRAIN: Duration = Duration::from_secs(20);

pub struct App {
    listener: TcpListener,
    state: AppState,
    deliverer: Deliverer,
    /// HTTPS, when a certificate is configured.
    tls: Option<RustlsConfig>,
}

impl App {
    pub async fn build(mut settings: Settings) -> anyhow::Result<App> {
        let listener =
            TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
        // With port 0 the real address is known only now.
        settings.listen = listener.local_addr()?;
        let tls = match settings.tls() {
            Some((cert, key)) => Some(crate::https::load(cert, key).await?),
            None => None,
        };
        let (store, engine, catalog) = build_engine(&settings).await?;
        let deliverer = deliverer(&settings, &engine)?;
        let clock = ApiClock { tz: settings.api_timezone };
        let public_url = public_url(&settings);
        let limits = Arc::new(RateLimits::new(&settings.limits));
        let state =
            AppState::new(Shared { store, settings: Arc::new(settings), clock, catalog, engine, public_url, limits });
        Ok(App { listener, state, deliverer, tls })
    }

    pub fn port(&self) -> u16 {
        self.state.settings.listen.port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves — with this process's workers and scheduler when `workers`
    /// — then lets in-flight requests and syncs finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        workers: bool,
    ) -> anyhow::Result<()> {
        tracing::info!(
            listen = %self.state.settings.listen,
            database = self.state.store.backend_name(),
            workers = if workers { self.state.engine.settings.workers } else { 0 },
            "bankd serving"
        );
        let header_timeout = Duration::try_from_secs_f64(self.state.settings.limits.header_timeout_seconds)
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .context("BANKD_HEADER_TIMEOUT_SECONDS must be a positive number of seconds")?;
        let server = server(self.listener.into_std()?, shutdown, header_timeout)?;
        let stop = CancellationToken::new();
        let tasks = if workers { background_tasks(&self.state.engine, &self.deliverer, &stop) } else { Vec::new() };
        let files = self.state.settings.tls().map(|(cert, key)| (cert.to_owned(), key.to_owned()));
        let service = router(self.state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = match (self.tls, files) {
            (Some(config), Some((cert, key))) => {
                crate::https::reload_on_sighup(config.clone(), cert, key);
                server.acceptor(RustlsAcceptor::new(config)).serve(service).await
            }
            _ => server.serve(service).await,
        };
        drain(stop, tasks).await;
        Ok(served?)
    }
}

/// The listener's server, plain HTTP (HTTPS gets its acceptor on top), stopping gracefully when
/// `shutdown` resolves.
fn server(
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_timeout: Duration,
) -> std::io::Result<axum_server::Server<std::net::SocketAddr>> {
    let handle = axum_server::Handle::new();
    let stopping = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopping.graceful_shutdown(Some(DRAIN));
    });
    let mut server = axum_server::from_tcp(listener)?.handle(handle);
    // Plain HTTP and HTTPS alike: a client gets this long to send a request's headers, and a
    // kept-alive connection this long to start its next request, before it is closed.
    server.http_builder().http1().header_read_timeout(header_timeout);
    // HTTP/2 has no such timeout; a peer that stops answering pings is dropped after as long.
    server.http_builder().http2().keep_alive_interval(header_timeout).keep_alive_timeout(header_timeout);
    Ok(server)
}

/// `bankd worker`: workers and scheduler, no HTTP, until `shutdown` resolves.
pub async fn run_worker(settings: Settings, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (store, engine, _) = build_engine(&settings).await?;
    let deliverer = deliverer(&settings, &engine)?;
    tracing::info!(database = store.backend_name(), workers = engine.settings.workers, "bankd worker running");
    let stop = CancellationToken::new();
    let tasks = background_tasks(&engine, &deliverer, &stop);
    shutdown.await;
    drain(stop, tasks).await;
    Ok(())
}

/// The whole HTTP surface of `bankd serve`: the API (with its OpenAPI document and `/docs`), the
/// webview, SimpleFIN, the simulated banks under `/sandbox` (unless switched off), `/health` and `/metrics`,
/// inside the layers every request crosses.
pub fn router(state: AppState) -> Router {
    let sandbox: Router<AppState> = if state.settings.sandbox {
        crate::simulators::router(&state.public_url, state.settings.sandbox_faults).with_state(())
    } else {
        Router::new()
    };
    let max_upload_bytes = state.settings.max_upload_bytes;
    let body_limit = BodyLimit(state.settings.limits.max_body_bytes);
    // Served over TLS, browsers are told to come back only that way.
    let hsts = state.settings.tls().map(|_| HeaderValue::from_static("max-age=31536000"));
    Router::new()
        .merge(crate::api::router(max_upload_bytes))
        .nest("/sandbox", sandbox)
        .merge(crate::webview::router(max_upload_bytes))
        .merge(crate::simplefin::router())
        .merge(crate::http::ops::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit.0))
        .layer(middleware::from_fn_with_state(body_limit, limit_body))
        .layer(CatchPanicLayer::custom(panic_envelope))
        .layer(middleware::from_fn(request_context))
        .layer(SetResponseHeaderLayer::if_not_present(STRICT_TRANSPORT_SECURITY, hsts))
        .with_state(state)
}

/// Sync workers, the scheduler and webhook delivery workers.
fn background_tasks(engine: &Engine, deliverer: &Deliverer, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
    let mut tasks = sync_tasks(engine, stop);
    tasks.extend(deliverer.start(stop));
    tasks
}

/// This process's sync workers and scheduler, sharing `engine`; they stop when `stop` is cancelled.
pub fn sync_tasks(engine: &Engine, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "bankd".into());
    let process = format!("{host}-{}-{}", std::process::id(), crate::crypto::random_secret()[..6].to_owned());
    let mut tasks: Vec<JoinHandle<()>> = (0..engine.settings.workers)
        .map(|n| tokio::spawn(worker::run(engine.clone(), format!("{process}-w{n}"), stop.clone())))
        .collect();
    tasks.push(tokio::spawn(scheduler::run(engine.clone(), stop.clone())));
    tasks
}

/// The webhook delivery workers, sharing the engine's store, catalog and master key.
fn deliverer(settings: &Settings, engine: &Engine) -> anyhow::Result<Deliverer> {
    let timeout = Duration::from_secs(settings.webhooks.webhook_timeout_seconds);
    let syncer = &engine.syncer;
    Ok(Deliverer {
        store: syncer.store.clone(),
        key: syncer.key.clone(),
        renderer: Renderer {
            clock: ApiClock { tz: settings.api_timezone },
            catalog: syncer.catalog.clone(),
            public_url: public_url(settings),
        },
        client: WebhookClient::new(timeout, settings.webhook_allow_private()).context("building the webhook client")?,
        settings: settings.webhooks.clone(),
    })
}

/// Asks the engine's tasks to stop and waits for the syncs they are running, up to [`DRAIN`].
async fn drain(stop: CancellationToken, tasks: Vec<JoinHandle<()>>) {
    stop.cancel();
    if tokio::time::timeout(DRAIN, futures::future::join_all(tasks)).await.is_err() {
        tracing::warn!("stopping with syncs still running: their jobs will run again elsewhere");
    }
}

/// Everything a sync needs: the store (migrated), the catalog (with woob's bank modules), the
/// master key, the sources.
async fn build_engine(settings: &Settings) -> anyhow::Result<(Store, Engine, Arc<Catalog>)> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    let key = Arc::new(MasterKey::load(std::env::var("BANKD_MASTER_KEY").ok().as_deref(), &settings.data_dir)?);
    let store = open_store(settings).await?;
    crate::telemetry::metrics();
    let woob = woob_runtime(settings);
    let catalog = catalog(settings, &store, &woob).await?;
    if catalog.connectors.iter().flat_map(|c| &c.sources).any(|s| s.driver == "woob") {
        woob.prepare_home().context("preparing woob's home")?;
        woob.check().await.map_err(anyhow::Error::msg)?;
    }
    let catalog = Arc::new(catalog);
    let public_url = public_url(settings);
    let syncer = Syncer {
        store: store.clone(),
        catalog: catalog.clone(),
        drivers: drivers(
            &catalog,
            &public_url,
            &woob,
            bank_timeouts(settings),
            fints_runtime(settings, &store),
            Arc::new(SealedRegistrations { store: store.clone(), key: key.clone() }),
        )?,
        key,
        webauth_callback: format!("{public_url}/2.0/webauth/callback"),
    };
    Ok((store, Engine::new(syncer, settings.engine.clone()), catalog))
}

/// The connector catalog: the TOML file (or the built-in one), the banks of the imported bank
/// directory, and woob's bank modules when a modules folder is known (read through `woob`, the
/// runtime whose helpers this process counts); without a FinTS product id, not the German banks
/// reached through FinTS.
pub async fn catalog(settings: &Settings, store: &Store, woob: &WoobRuntime) -> anyhow::Result<Catalog> {
    let mut catalog = Catalog::load(settings.catalog.as_deref(), settings.sandbox)?;
    add_directory_connectors(&mut catalog, store).await?;
    if let Some(modules) = woob_modules(settings, woob, false).await? {
        add_woob_connectors(&mut catalog, store, &modules).await?;
    }
    offer_fints(&mut catalog, settings.fints_product_id());
    Ok(catalog)
}

/// How an operator gets a FinTS product id, for the start-up log and `bankd doctor`.
pub const FINTS_REGISTRATION: &str = "register this bankd as a FinTS product with the FinTS office of the Deutsche \
     Kreditwirtschaft (https://www.hbci-zka.de; registration is free), then set BANKD_FINTS_PRODUCT_ID to the product \
     id it gives you";

/// Without a FinTS product id, removes the German banks reached only through FinTS (their servers
/// refuse unregistered products), saying so once in the log. The sandbox FinTS bank stays.
pub fn offer_fints(catalog: &mut Catalog, product_id: Option<&str>) {
    if product_id.is_some() {
        return;
    }
    let dropped = catalog.drop_fints_banks();
    if dropped > 0 {
        tracing::info!(
            connectors = dropped,
            "German banks (FinTS) are not offered: banks serve registered FinTS products only, and no product id is \
             set; to offer them, {FINTS_REGISTRATION}"
        );
    }
}

/// What this process's FinTS sources share: the product id from the settings, and the store as the
/// bank directory (`bankd catalog import-fints` fills it).
pub fn fints_runtime(settings: &Settings, store: &Store) -> FintsRuntime {
    FintsRuntime { product_id: settings.fints_product_id().map(str::to_owned), directory: Arc::new(store.clone()) }
}

/// The limits of every HTTP call to a bank, from the settings.
pub fn bank_timeouts(settings: &Settings) -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(settings.bank_http.bank_connect_timeout_seconds),
        total: Duration::from_secs(settings.bank_http.bank_timeout_seconds),
    }
}

/// How this process runs woob's modules: its Python, woob's home in the data dir, the call timeout
/// and the number of helpers alive at once.
pub fn woob_runtime(settings: &Settings) -> WoobRuntime {
    let timeout = Duration::from_secs(settings.woob.woob_timeout_seconds);
    WoobRuntime::new(&settings.woob_python, &settings.woob_home(), timeout, settings.woob.woob_helpers)
}

/// The woob modules of the configured folder (else of the one `bankd woob update` filled), as read
/// now or cached from an earlier start (`refresh`: read them all again); `None` without a folder.
pub async fn woob_modules(
    settings: &Settings,
    woob: &WoobRuntime,
    refresh: bool,
) -> anyhow::Result<Option<(PathBuf, Vec<ModuleInfo>)>> {
    let Some(path) = settings.woob.woob_modules_path.clone().or_else(|| woob.installed_modules()) else {
        return Ok(None);
    };
    woob.prepare_home().context("preparing woob's home")?;
    let cache = woob.home.join("modules-cache.json");
    let modules = modules::discover(woob, &path, &cache, refresh)
        .await
        .with_context(|| format!("reading the woob modules of {}", path.display()))?;
    Ok(Some((path, modules)))
}

/// Every bank of the directory (`bankd catalog import-aspsps`) becomes a connector on its profile,
/// under the id the store keeps for it. A bank whose profile the catalog no longer defines is left
/// out, said once in the log: the catalog changed since the import.
async fn add_directory_connectors(catalog: &mut Catalog, store: &Store) -> anyhow::Result<()> {
    let banks = store.directory_banks().await?;
    if banks.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = banks.iter().map(crate::directory::Aspsp::key).collect();
    let ids = store.directory_connector_ids(&keys).await?;
    let (added, skipped) = crate::directory::connectors(catalog, &banks, &ids);
    if skipped > 0 {
        tracing::warn!(
            banks = skipped,
            "bank directory: banks on a profile this catalog does not define (or a sandbox profile, the sandbox \
             off) are not offered; import the directory again or define the profile"
        );
    }
    tracing::info!(connectors = added.len(), "bank directory");
    catalog.add(added).context("adding the bank directory to the catalog")?;
    Ok(())
}

/// Every usable bank module the catalog does not name already becomes a connector, under the id
/// the store keeps for it (a catalog entry naming the module wins: it can rename, hide or disable it).
async fn add_woob_connectors(
    catalog: &mut Catalog,
    store: &Store,
    (path, modules): &(PathBuf, Vec<ModuleInfo>),
) -> anyhow::Result<()> {
    let named = catalog.woob_modules();
    let offered: Vec<ModuleInfo> =
        modules.iter().filter(|m| m.unusable().is_none() && !named.contains(&m.name)).cloned().collect();
    let names: Vec<String> = offered.iter().map(|m| m.name.clone()).collect();
    let ids = store.woob_connector_ids(&names).await?;
    let added = modules::connectors(&offered, &ids, path);
    tracing::info!(modules = modules.len(), connectors = added.len(), path = %path.display(), "woob bank modules");
    catalog.add(added).context("adding woob's modules to the catalog")?;
    Ok(())
}

/// Every catalog source's driver; the in-process Sandbox Bank is the `sandbox` driver, `woob` runs
/// woob's modules, `fints` sources share `fints`, and STET sources without a `client_id` read
/// bankd's registration from `registrations`.
pub fn drivers(
    catalog: &Catalog,
    public_url: &str,
    woob: &WoobRuntime,
    timeouts: Timeouts,
    fints: FintsRuntime,
    registrations: Arc<dyn Registrations>,
) -> anyhow::Result<Drivers> {
    let sandbox: Arc<dyn Source> = Arc::new(SandboxBank::new(public_url));
    let context = DriverContext { own_url: public_url, woob, timeouts, fints, registrations };
    Ok(Drivers::build(catalog, &context, &[("sandbox", sandbox)])?)
}

/// Base of the links bankd hands out: `BANKD_PUBLIC_URL`, else `http(s)://<listen>`.
pub fn public_url(settings: &Settings) -> String {
    let scheme = if settings.tls().is_some() { "https" } else { "http" };
    let url = settings.public_url.clone().unwrap_or_else(|| format!("{scheme}://{}", settings.listen));
    url.trim_end_matches('/').to_owned()
}

/// Connects to the configured database and applies pending migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let url = settings.database_url();
    let store = Store::connect(&url).await.context("connecting to the database")?;
    let store = store.with_token_cache(Duration::try_from_secs_f64(settings.token_cache_seconds).unwrap_or_default());
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
    tracing::info!("shutting down: finishing in-flight requests and syncs");
}
