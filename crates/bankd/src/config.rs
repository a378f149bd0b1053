//! Settings: one typed struct, filled from flags, then `BANKD_*` environment variables, then defaults
//! (the names are fixed by shared/contract.md).

use std::net::SocketAddr;
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

    /// Serve the sandbox banks and list their connectors.
    #[arg(long, env = "BANKD_SANDBOX", default_value_t = true, action = ArgAction::Set)]
    pub sandbox: bool,

    /// Connector catalog file (TOML); default: the built-in catalog.
    #[arg(long, env = "BANKD_CATALOG")]
    pub catalog: Option<PathBuf>,

    /// Zone of the naive datetimes the API reads and writes (storage is always UTC).
    #[arg(long, env = "BANKD_API_TIMEZONE", default_value = "Europe/Paris")]
    pub api_timezone: Tz,
}

impl Settings {
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("bankd.db").display()))
    }
}
