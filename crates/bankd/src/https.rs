//! HTTPS on bankd's own listener, for those who run it without a reverse proxy (SimpleFIN clients
//! such as Actual Budget claim only over HTTPS). The certificate and key are PEM files, read at
//! start and again on SIGHUP: certbot or acme.sh renew them in place, then signal bankd, and new
//! connections get the new certificate while open ones carry on.

use std::path::{Path, PathBuf};

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;

/// The TLS configuration of `cert` and `key`, refused at start when either does not read.
pub async fn load(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| format!("reading the TLS certificate {} and key {}", cert.display(), key.display()))
}

/// Reloads the files into `config` at every SIGHUP, until the process ends. A reload that fails
/// (a half-written file) keeps the certificate in use and says why.
pub fn reload_on_sighup(config: RustlsConfig, cert: PathBuf, key: PathBuf) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("no SIGHUP handler: the TLS certificate is reloaded only at restart");
            return;
        };
        while hangups.recv().await.is_some() {
            match config.reload_from_pem_file(&cert, &key).await {
                Ok(()) => tracing::info!(cert = %cert.display(), "TLS certificate reloaded"),
                Err(e) => tracing::error!(error = %e, "TLS certificate not reloaded: the previous one stays in use"),
            }
        }
    });
    #[cfg(not(unix))]
    drop((config, cert, key));
}
