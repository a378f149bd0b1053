//! The Powens-compatible HTTP API: routing, the middleware every request crosses, and the OpenAPI
//! document generated from the handlers' annotations.
//!
//! Handlers are thin: they parse with [`extract`], call the store or the domain, and render the
//! wire types of [`wire`]. Every failure is an [`error::ApiError`] rendered as the Powens envelope.

pub mod account_types;
pub mod accounts;
pub mod auth;
pub mod connections;
pub mod connectors;
pub mod error;
pub mod extract;
pub mod statements;
pub mod transactions;
pub mod users;
pub mod webauth;
pub mod webhooks;
pub mod webview;
pub mod wire;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::Rng;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::store::Store;
use crate::sync::engine::Engine;
use error::{ApiError, REQUEST_ID, envelope};
use wire::ApiClock;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub clock: ApiClock,
    pub catalog: Arc<Catalog>,
    pub engine: Engine,
    /// Base of the absolute links the API hands out.
    pub public_url: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "bankd",
        description = "Self-hosted bank aggregation, wire-compatible with the Powens API 2.0 (Bank product)."
    ),
    modifiers(&BearerAuth),
    components(schemas(error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("client", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    }
}

/// The whole HTTP surface of `bankd serve`.
pub fn router(state: AppState) -> Router {
    let api = OpenApiRouter::new()
        .merge(auth::routes())
        .merge(users::routes())
        .merge(connectors::routes())
        .merge(connections::routes())
        .merge(accounts::routes())
        .merge(account_types::routes())
        .merge(transactions::routes())
        .merge(statements::routes(state.settings.max_upload_bytes))
        .merge(webauth::routes())
        .merge(webhooks::routes())
        .merge(webview::routes());
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/2.0", api).split_for_parts();
    let sandbox: Router<AppState> = if state.settings.sandbox {
        crate::simulators::router(&state.public_url).with_state(())
    } else {
        Router::new()
    };

    Router::new()
        .merge(api)
        .nest("/sandbox", sandbox)
        .merge(crate::webview::router(state.settings.max_upload_bytes))
        .merge(SwaggerUi::new("/docs").url("/2.0/openapi.json", openapi))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_envelope))
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

/// Gives each request an id (the `X-Request-Id` header, and the envelope's `request_id`), and logs
/// one line per request with its status and latency.
async fn request_context(request: Request, next: Next) -> Response {
    // JavaScript-safe integer (< 2^53): Powens documents request_id as an integer.
    let id: i64 = rand::thread_rng().gen_range(1..(1i64 << 53));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let client_ip = client_ip(&request);
    let mut response = REQUEST_ID.scope(id, CLIENT_IP.scope(client_ip, next.run(request))).await;
    response.headers_mut().insert("x-request-id", HeaderValue::from(id));
    crate::telemetry::record_request(method.as_str(), response.status().as_u16(), started.elapsed());
    tracing::info!(
        request_id = id,
        %method,
        path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

tokio::task_local! {
    /// The address of the person behind the request, for banks that want it (PSD2's
    /// `PSU-IP-Address`): syncs the request asks for carry it.
    pub static CLIENT_IP: Option<String>;
}

/// The first `X-Forwarded-For` address (bankd behind a proxy), else the peer's. A client could
/// forge the header, but the address only serves the bank's checks of that same client.
fn client_ip(request: &Request) -> Option<String> {
    let forwarded = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let first = forwarded.and_then(|v| v.split(',').next()).and_then(|ip| ip.trim().parse::<std::net::IpAddr>().ok());
    let peer = || request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    first.or_else(peer).map(|ip| ip.to_string())
}

fn panic_envelope(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    envelope(StatusCode::INTERNAL_SERVER_ERROR, "bug", "internal error".into(), None)
}

async fn not_found() -> ApiError {
    ApiError::not_found("notFound", "route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
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
    let deliveries = state.store.delivery_counts().await?;
    write_gauge(&mut text, "bankd_webhook_deliveries", "Webhook deliveries, by state.", &deliveries);
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

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_bug_envelope() {
        async fn boom() -> &'static str {
            panic!("a defect")
        }
        let app: Router = Router::new()
            .route("/boom", get(boom))
            .layer(CatchPanicLayer::custom(panic_envelope))
            .layer(middleware::from_fn(request_context));
        let response = app.oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body(), 1 << 16).await.unwrap()).unwrap();
        assert_eq!(body["code"], "bug");
        assert_eq!(body["request_id"].to_string(), request_id);
        assert!(!body.to_string().contains("a defect"), "the panic message stays in the log");
    }
}
