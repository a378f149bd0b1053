//! Settings: one typed struct, filled from flags, then `BANKD_*` environment variables, then defaults
//! (the names are fixed by shared/contract.md).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use chrono_tz::Tz;
use clap::{ArgAction, Args};

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to serve on.
    #[arg(long, env = "BANKD_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Where the embedded database and the generated master key live.
    #[arg(long, env = "BANKD_DATA_DIR", default_value = "./bankd-data")]
    pub data_dir: PathBuf,

    /// `sqlite://…` or `postgres://…`; default: `sqlite://<data-dir>/bankd.db`.
    #[arg(long, env = "BANKD_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Base of the links the server hands out; default: `http://<listen>`.
    #[arg(long, env = "BANKD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// PEM certificate chain to serve HTTPS with (with `--tls-key`); reloaded on SIGHUP, so a
    /// renewed certificate (certbot, acme.sh) is used without a restart.
    #[arg(long, env = "BANKD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "BANKD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve the sandbox banks and list their connectors.
    #[arg(long, env = "BANKD_SANDBOX", default_value_t = true, action = ArgAction::Set)]
    pub sandbox: bool,

    /// Let anyone make the sandbox banks misbehave through `PUT /sandbox/faults/{bank}` (slow or
    /// broken answers): for tests and TPP developers, never on a shared server.
    #[arg(long, env = "BANKD_SANDBOX_FAULTS", default_value_t = false, action = ArgAction::Set)]
    pub sandbox_faults: bool,

    /// Connector catalog file (TOML); default: the built-in catalog.
    #[arg(long, env = "BANKD_CATALOG")]
    pub catalog: Option<PathBuf>,

    /// The Python that runs woob's bank modules (catalog sources with `driver = "woob"`).
    #[arg(long, env = "BANKD_WOOB_PYTHON", default_value = "python3")]
    pub woob_python: String,

    #[command(flatten)]
    pub woob: WoobSettings,

    /// The product id the FinTS office of the Deutsche Kreditwirtschaft registered (for free) for
    /// whoever operates this bankd: German banks serve registered FinTS products only. Without it
    /// the German banks (FinTS) are not offered.
    #[arg(long, env = "BANKD_FINTS_PRODUCT_ID")]
    pub fints_product_id: Option<String>,

    #[command(flatten)]
    pub bank_http: BankHttpSettings,

    /// The largest statement file `POST /users/{id}/statements` accepts, in bytes.
    #[arg(long, env = "BANKD_MAX_UPLOAD_BYTES", default_value_t = 100 << 20)]
    pub max_upload_bytes: u64,

    /// Zone of the naive datetimes the API reads and writes (storage is always UTC).
    #[arg(long, env = "BANKD_API_TIMEZONE", default_value = "Europe/Paris")]
    pub api_timezone: Tz,

    /// Seconds a bearer token found valid is believed without asking the database again (0: ask on
    /// every request). A token revoked through this process is refused at once; one revoked through
    /// another process sharing the database, within this many seconds.
    #[arg(long, env = "BANKD_TOKEN_CACHE_SECONDS", default_value_t = 5.0)]
    pub token_cache_seconds: f64,

    #[command(flatten)]
    pub engine: EngineSettings,

    #[command(flatten)]
    pub webhooks: WebhookSettings,

    #[command(flatten)]
    pub limits: LimitSettings,
}

/// What one client may cost the server: request bodies, attempts on the routes that take secrets,
/// and how long a connection may sit without sending a request.
#[derive(Debug, Clone, Args)]
pub struct LimitSettings {
    /// The largest request body of every route but the statement uploads (`--max-upload-bytes`),
    /// in bytes; larger ones get `413 payloadTooLarge`.
    #[arg(long, env = "BANKD_MAX_BODY_BYTES", default_value_t = LimitSettings::default().max_body_bytes)]
    pub max_body_bytes: usize,

    /// Requests one address may make per window on the routes that take secrets (`/auth/*`, the
    /// SimpleFIN claim, the webauth callback, the webview's link and credential forms); past it
    /// `429 rateLimited`.
    #[arg(long, env = "BANKD_RATE_LIMIT_PER_IP", default_value_t = LimitSettings::default().rate_limit_per_ip)]
    pub rate_limit_per_ip: u32,

    /// The same, per client application (`client_id`), whatever address it calls from.
    #[arg(long, env = "BANKD_RATE_LIMIT_PER_CLIENT", default_value_t = LimitSettings::default().rate_limit_per_client)]
    pub rate_limit_per_client: u32,

    /// The window of the two rate limits, in seconds: the allowance refills evenly over it.
    #[arg(long, env = "BANKD_RATE_LIMIT_WINDOW_SECONDS", default_value_t = LimitSettings::default().rate_limit_window_seconds)]
    pub rate_limit_window_seconds: u64,

    /// Proxies whose `X-Forwarded-For` names the client for the rate limits (the address the proxy
    /// saw, the last one of the header); anyone else is limited by their own address.
    #[arg(long, env = "BANKD_TRUSTED_PROXIES", value_delimiter = ',', default_values_t = LimitSettings::default().trusted_proxies)]
    pub trusted_proxies: Vec<IpAddr>,

    /// Seconds a connection may take to send a request's headers, and may stay idle between two
    /// requests; past it the connection is closed (a slow client cannot hold it forever).
    #[arg(long, env = "BANKD_HEADER_TIMEOUT_SECONDS", default_value_t = LimitSettings::default().header_timeout_seconds)]
    pub header_timeout_seconds: f64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            max_body_bytes: 1 << 20,
            rate_limit_per_ip: 60,
            rate_limit_per_client: 600,
            rate_limit_window_seconds: 60,
            trusted_proxies: vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)],
            header_timeout_seconds: 30.0,
        }
    }
}

/// woob's bank modules offered as connectors, and the helpers that run them.
#[derive(Debug, Clone, Args)]
pub struct WoobSettings {
    /// A folder of woob modules (a checkout's `modules/`, or where `bankd woob update` installs
    /// them); each loadable bank module in it becomes a connector. Default: the modules `bankd woob
    /// update` installed, if any.
    #[arg(long, env = "BANKD_WOOB_MODULES_PATH")]
    pub woob_modules_path: Option<PathBuf>,

    /// Seconds one call of a bank module may take (a long history is many pages); past it the
    /// helper is killed and the sync ends `websiteUnavailable`.
    #[arg(long, env = "BANKD_WOOB_TIMEOUT_SECONDS", default_value_t = WoobSettings::default().woob_timeout_seconds)]
    pub woob_timeout_seconds: u64,

    /// woob helpers (one Python process per running sync) alive at once in this process; more
    /// syncs wait for one to end.
    #[arg(long, env = "BANKD_WOOB_HELPERS", default_value_t = WoobSettings::default().woob_helpers)]
    pub woob_helpers: usize,
}

impl Default for WoobSettings {
    fn default() -> Self {
        WoobSettings { woob_modules_path: None, woob_timeout_seconds: 300, woob_helpers: 4 }
    }
}

/// Every HTTP call to a bank (PSD2 APIs, websites): a bank that does not answer in time is down.
#[derive(Debug, Clone, Args)]
pub struct BankHttpSettings {
    /// Seconds a bank's server has to accept a connection (TCP and TLS).
    #[arg(long, env = "BANKD_BANK_CONNECT_TIMEOUT_SECONDS", default_value_t = BankHttpSettings::default().bank_connect_timeout_seconds)]
    pub bank_connect_timeout_seconds: u64,

    /// Seconds one call to a bank may take, connection and whole answer included; past it the sync
    /// ends `websiteUnavailable` and is retried later.
    #[arg(long, env = "BANKD_BANK_TIMEOUT_SECONDS", default_value_t = BankHttpSettings::default().bank_timeout_seconds)]
    pub bank_timeout_seconds: u64,
}

impl Default for BankHttpSettings {
    fn default() -> Self {
        BankHttpSettings { bank_connect_timeout_seconds: 10, bank_timeout_seconds: 30 }
    }
}

/// Webhook deliveries.
#[derive(Debug, Clone, Args)]
pub struct WebhookSettings {
    /// Let webhook URLs reach loopback, private and link-local addresses (default: on while the
    /// sandbox is, off otherwise).
    #[arg(long, env = "BANKD_WEBHOOK_ALLOW_PRIVATE", action = ArgAction::Set)]
    pub webhook_allow_private: Option<bool>,

    /// Delivery workers in this process.
    #[arg(long, env = "BANKD_WEBHOOK_WORKERS", default_value_t = WebhookSettings::default().webhook_workers)]
    pub webhook_workers: usize,

    /// Seconds a receiver has to answer.
    #[arg(long, env = "BANKD_WEBHOOK_TIMEOUT_SECONDS", default_value_t = WebhookSettings::default().webhook_timeout_seconds)]
    pub webhook_timeout_seconds: u64,

    /// Wait before the first retry, in seconds; it doubles at each retry (with jitter), up to an hour.
    #[arg(long, env = "BANKD_WEBHOOK_RETRY_SECONDS", default_value_t = WebhookSettings::default().webhook_retry_seconds)]
    pub webhook_retry_seconds: f64,

    /// Seconds after its event a delivery is given up as `failed`.
    #[arg(long, env = "BANKD_WEBHOOK_GIVE_UP_SECONDS", default_value_t = WebhookSettings::default().webhook_give_up_seconds)]
    pub webhook_give_up_seconds: u64,
}

/// The sync engine: workers, job leases, the scheduler.
#[derive(Debug, Clone, Args)]
pub struct EngineSettings {
    /// Sync workers in this process.
    #[arg(long, env = "BANKD_WORKERS", default_value_t = EngineSettings::default().workers)]
    pub workers: usize,

    /// Lease of a claimed job, in seconds: a crashed worker's job runs again after it.
    #[arg(long, env = "BANKD_JOB_LEASE_SECONDS", default_value_t = EngineSettings::default().job_lease_seconds)]
    pub job_lease_seconds: u64,

    /// How long a request waits for the sync it asked for, in seconds, before answering with the
    /// connection still `validating`.
    #[arg(long, env = "BANKD_SYNC_WAIT_SECONDS", default_value_t = EngineSettings::default().sync_wait_seconds)]
    pub sync_wait_seconds: u64,

    /// Seconds between two looks of the scheduler for connections due a background sync.
    #[arg(long, env = "BANKD_SCHEDULER_SECONDS", default_value_t = EngineSettings::default().scheduler_seconds)]
    pub scheduler_seconds: u64,

    /// Syncs of one connector running at once, across every process.
    #[arg(long, env = "BANKD_CONNECTOR_CONCURRENCY", default_value_t = EngineSettings::default().connector_concurrency)]
    pub connector_concurrency: i64,

    /// Syncs of one user running at once, across every process; more wait in the queue.
    #[arg(long, env = "BANKD_USER_CONCURRENCY", default_value_t = EngineSettings::default().user_concurrency)]
    pub user_concurrency: i64,

    /// Unattended (background) syncs allowed per account in any 24 hours: PSD2 allows 4.
    #[arg(long, env = "BANKD_UNATTENDED_BUDGET", default_value_t = EngineSettings::default().unattended_budget)]
    pub unattended_budget: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            workers: 4,
            job_lease_seconds: 30,
            sync_wait_seconds: 60,
            scheduler_seconds: 15,
            connector_concurrency: 8,
            user_concurrency: 2,
            unattended_budget: crate::domain::schedule::UNATTENDED_BUDGET,
        }
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            webhook_allow_private: None,
            webhook_workers: 2,
            webhook_timeout_seconds: 10,
            webhook_retry_seconds: 30.0,
            webhook_give_up_seconds: 86_400,
        }
    }
}

impl Settings {
    pub fn webhook_allow_private(&self) -> bool {
        self.webhooks.webhook_allow_private.unwrap_or(self.sandbox)
    }

    /// Where woob keeps its configuration (`sources.list`) and the modules `bankd woob update`
    /// installs: inside the data dir, never the user's home, so nothing else's woob is touched.
    pub fn woob_home(&self) -> PathBuf {
        self.data_dir.join("woob")
    }

    /// The FinTS product id, when one is set (an empty `BANKD_FINTS_PRODUCT_ID=` in an env file is
    /// none).
    pub fn fints_product_id(&self) -> Option<&str> {
        self.fints_product_id.as_deref().map(str::trim).filter(|id| !id.is_empty())
    }

    /// The certificate and key files, when bankd serves HTTPS itself.
    pub fn tls(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        Some((self.tls_cert.as_deref()?, self.tls_key.as_deref()?))
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("bankd.db").display()))
    }
}
