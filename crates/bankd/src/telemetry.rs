//! Logging setup: human-readable lines by default, JSON with `BANKD_LOG_FORMAT=json`; `RUST_LOG`
//! filters (default `info`).

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let json = std::env::var("BANKD_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // try_init: tests may call this once per spawned server in one process.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
