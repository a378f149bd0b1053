//! Logs and metrics. Logs: human-readable lines by default, JSON with `BANKD_LOG_FORMAT=json`;
//! `RUST_LOG` filters (default `info`). Metrics: Prometheus text at `GET /metrics`, from counters and
//! histograms kept in-process plus gauges read from the database at each scrape.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: escape codes garble a file or a log collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let json = std::env::var("BANKD_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // try_init: tests may call this once per spawned server in one process.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// The process's metrics recorder, installed on first use.
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        const SECONDS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];
        // A bank's sync takes seconds to minutes (a woob call may run 300 s): percentiles need buckets there.
        const SYNC_SECONDS: [f64; 11] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(Matcher::Full("bankd_sync_duration_seconds".into()), &SYNC_SECONDS)
            })
            .and_then(|builder| builder.install_recorder())
            // Installing fails only if another recorder is installed, and this is the only place.
            .expect("install the metrics recorder")
    })
}

pub fn record_request(method: &str, status: u16, elapsed: Duration) {
    let labels = [("method", method.to_owned()), ("status", status.to_string())];
    metrics::counter!("bankd_http_requests_total", &labels).increment(1);
    metrics::histogram!("bankd_http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

pub fn record_job(kind: &str, result: &str, elapsed: Duration) {
    let labels = [("kind", kind.to_owned()), ("result", result.to_owned())];
    metrics::counter!("bankd_jobs_total", &labels).increment(1);
    metrics::histogram!("bankd_job_duration_seconds", "kind" => kind.to_owned()).record(elapsed.as_secs_f64());
}

pub fn record_delivery(event: &str, outcome: &str, latency: Option<Duration>) {
    let labels = [("event", event.to_owned()), ("outcome", outcome.to_owned())];
    metrics::counter!("bankd_webhook_attempts_total", &labels).increment(1);
    if let Some(latency) = latency {
        metrics::histogram!("bankd_webhook_latency_seconds").record(latency.as_secs_f64());
    }
}

/// A sync of a connection with `connector` (its catalog slug, else id) ended in `state` (`ok` or the
/// connection's state), after `elapsed`.
pub fn record_sync(connector: &str, state: &str, elapsed: Duration) {
    let labels = [("connector", connector.to_owned()), ("state", state.to_owned())];
    metrics::counter!("bankd_syncs_total", &labels).increment(1);
    metrics::histogram!("bankd_sync_duration_seconds", "connector" => connector.to_owned())
        .record(elapsed.as_secs_f64());
}

/// A sync of a woob module ended in `state` (`ok` or the connection's state).
pub fn record_woob_sync(module: &str, state: &str) {
    let labels = [("module", module.to_owned()), ("state", state.to_owned())];
    metrics::counter!("bankd_woob_syncs_total", &labels).increment(1);
}
