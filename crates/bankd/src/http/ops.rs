//! The operator's endpoints, beside the API: `/health` for load balancers and orchestrators, and
//! `/metrics` for Prometheus.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;
use crate::wire::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/metrics", get(metrics))
}

/// `{"status":"ok"}` once the database answers; 503 otherwise.
async fn health(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ok"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            let body = serde_json::json!({"status": "unavailable"});
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}

/// Prometheus text: this process's counters and histograms, and the queue's, connections' and
/// webhook deliveries' gauges as the database has them now (the same for every process).
async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    use std::fmt::Write;
    let mut text = crate::telemetry::metrics().render();
    let counts = state.store.job_counts().await?;
    let jobs = [("queued", counts.queued), ("running", counts.running), ("failed", counts.failed)];
    let jobs = jobs.map(|(state, count)| (state.to_owned(), count));
    write_gauge(&mut text, "bankd_jobs", "Jobs in the queue, by state.", &jobs);
    let lag = counts.oldest_due.map_or(0, |due| (chrono::Utc::now() - due).num_seconds().max(0));
    let _ = writeln!(
        text,
        "# HELP bankd_jobs_lag_seconds How long the oldest job that could run now has waited.\n# TYPE bankd_jobs_lag_seconds gauge\nbankd_jobs_lag_seconds {lag}"
    );
    let connections = state.store.connection_state_counts().await?;
    write_gauge(&mut text, "bankd_connections", "Connections, by state (ok: healthy).", &connections);
    let expiring = state.store.connections_expiring(chrono::Duration::days(7)).await?;
    let _ = writeln!(
        text,
        "# HELP bankd_connections_expiring Active connections whose PSD2 consent ends within the window.\n# TYPE bankd_connections_expiring gauge\nbankd_connections_expiring{{within=\"7d\"}} {expiring}"
    );
    let deliveries = state.store.delivery_counts().await?;
    write_gauge(&mut text, "bankd_webhook_deliveries", "Webhook deliveries, by state.", &deliveries);
    write_broken_modules(&mut text, &state).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Appends a gauge with one sample per `state`.
fn write_gauge(text: &mut String, name: &str, help: &str, samples: &[(String, i64)]) {
    use std::fmt::Write;
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (state, count) in samples {
        let _ = writeln!(text, "{name}{{state=\"{state}\"}} {count}");
    }
}

/// `bankd_woob_module_broken`: 1 for each woob module whose last sync failed with `bug` for most
/// of its users over the last 24 hours (see `ConnectorHealth::is_broken`), 0 for the others synced.
async fn write_broken_modules(text: &mut String, state: &AppState) -> Result<(), ApiError> {
    use std::fmt::Write;
    let health = state.store.connector_health(crate::store::now() - chrono::Duration::hours(24)).await?;
    let _ = writeln!(
        text,
        "# HELP bankd_woob_module_broken A woob module failing (bug) for most of its users in 24 hours.\n# TYPE bankd_woob_module_broken gauge"
    );
    for h in health {
        let module =
            state.catalog.connector(h.id_connector).and_then(|c| c.sources.iter().find_map(|s| s.module.as_deref()));
        if let Some(module) = module {
            let _ = writeln!(text, "bankd_woob_module_broken{{module=\"{module}\"}} {}", u8::from(h.is_broken()));
        }
    }
    Ok(())
}
