//! The layers around every route (`startup::router` applies them): a request id and one access-log
//! line per request, the person's address for the banks that want it, a panic turned into a `bug`
//! envelope, and envelopes for unknown routes and methods.

use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;

use crate::usecases::CLIENT_IP;
use crate::wire::error::{ApiError, REQUEST_ID, envelope};

/// Gives each request an id (the `X-Request-Id` header, and the envelope's `request_id`), and logs
/// one line per request with its status and latency.
pub async fn request_context(request: Request, next: Next) -> Response {
    // JavaScript-safe integer (< 2^53): Powens documents request_id as an integer.
    let id: i64 = rand::thread_rng().gen_range(1..(1i64 << 53));
    let method = request.method().clone();
    // The route's template (`/simplefin/claim/{token}`), not the path: paths carry ids and, for a
    // SimpleFIN claim, a secret. A path no route matched is logged as sent: it is no route's secret.
    let path = match request.extensions().get::<MatchedPath>() {
        Some(route) => route.as_str().to_owned(),
        None => request.uri().path().to_owned(),
    };
    let started = Instant::now();
    let client_ip = client_ip(&request);
    // Every line logged while serving the request carries its id.
    let span = tracing::info_span!("request", request_id = id);
    let served = REQUEST_ID.scope(id, CLIENT_IP.scope(client_ip, next.run(request)));
    let mut response = tracing::Instrument::instrument(served, span).await;
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

/// The first `X-Forwarded-For` address (bankd behind a proxy), else the peer's. A client could
/// forge the header, but the address only serves the bank's checks of that same client.
fn client_ip(request: &Request) -> Option<String> {
    let forwarded = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let first = forwarded.and_then(|v| v.split(',').next()).and_then(|ip| ip.trim().parse::<std::net::IpAddr>().ok());
    let peer = || request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    first.or_else(peer).map(|ip| ip.to_string())
}

/// For `CatchPanicLayer`: a handler's panic answers a `bug` envelope, its message kept in the log.
pub fn panic_envelope(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    envelope(StatusCode::INTERNAL_SERVER_ERROR, "bug", "internal error".into(), None)
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("notFound", "route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::middleware;
    use axum::routing::get;
    use tower::ServiceExt;
    use tower_http::catch_panic::CatchPanicLayer;

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
